package main

import (
	"encoding/json"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/reference"
)

// inspectOutput is what `imagec inspect` prints for one image.
type inspectOutput struct {
	ID                 digest.Digest      `json:"Id"`
	RepoTags           []string           `json:"RepoTags"`
	RepoDigests        []string           `json:"RepoDigests"`
	Descriptor         ocispec.Descriptor `json:"Descriptor"`
	ManifestDescriptor ocispec.Descriptor `json:"ManifestDescriptor"`
	Manifest           ocispec.Manifest   `json:"Manifest"`
	Config             json.RawMessage    `json:"Config"`
}

func newInspectCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect IMAGE...",
		Short: "Show the manifest, config and ID of images as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			all, _ := image.List(cmd.Context(), st)
			var out []inspectOutput
			for _, arg := range args {
				imgs, err := image.Find(cmd.Context(), st, arg)
				if err != nil {
					return err
				}
				for _, img := range imgs {
					out = append(out, describe(img, all))
				}
			}
			return printJSON(os.Stdout, out)
		},
	}
}

// describe gathers, as docker inspect does, every name under which the
// same image (same ID) is recorded.
func describe(img *image.Image, all []*image.Image) inspectOutput {
	o := inspectOutput{
		ID:                 img.ID(),
		RepoTags:           []string{},
		RepoDigests:        []string{},
		Descriptor:         img.Entry,
		ManifestDescriptor: img.ManifestDesc,
		Manifest:           img.Manifest,
		Config:             img.ConfigRaw,
	}
	seen := map[string]bool{}
	for _, other := range all {
		if other.ID() != img.ID() {
			continue
		}
		ref, err := reference.Parse(other.Name)
		if err != nil {
			continue
		}
		if ref.Tag() != "" && ref.Digest() == "" {
			o.RepoTags = append(o.RepoTags, ref.Familiar())
		}
		d := ref.FamiliarName() + "@" + other.RepoDigest().String()
		if !seen[d] {
			seen[d] = true
			o.RepoDigests = append(o.RepoDigests, d)
		}
	}
	return o
}
