package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

func newReferrersCommand(g *globals) *cobra.Command {
	var artifactType, format string
	cmd := &cobra.Command{
		Use:   "referrers [flags] NAME[:TAG|@DIGEST]",
		Short: "List the artifacts that refer to an image in its registry (signatures, SBOMs, attestations)",
		Long: "List the manifests whose subject is the image a reference names in its registry (the\n" +
			"OCI 1.1 referrers API; for a registry without it, the sha256-<hex> tag that lists them):\n" +
			"digest, artifact type, size and annotations, as the registry lists them. A tag is first\n" +
			"resolved to its digest.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json: %w", format, errdefs.ErrInvalidArgument)
			}
			r, err := g.openRemote(args[0], reference.Parse)
			if err != nil {
				return err
			}
			ref := r.ref
			if ref.Digest() == "" {
				desc, err := r.client.Resolve(cmd.Context(), ref, manifest.Accept)
				if err != nil {
					return err
				}
				ref = ref.WithDigest(desc.Digest)
			}
			var opts []registry.ReferrersOption
			if artifactType != "" {
				opts = append(opts, registry.ReferrersArtifactType(artifactType))
			}
			list, err := r.client.Referrers(cmd.Context(), ref, opts...)
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(os.Stdout, referrersJSON{Subject: ref.String(), TagSchema: list.TagSchema, Manifests: nonNil(list.Manifests)})
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
			printRow(tw, "DIGEST", "ARTIFACT TYPE", "SIZE", "ANNOTATIONS")
			for _, d := range list.Manifests {
				printRow(tw, d.Digest.String(), d.ArtifactType, strconv.FormatInt(d.Size, 10), annotationText(d.Annotations))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&artifactType, "artifact-type", "", "list only referrers of this artifact type")
	cmd.Flags().StringVar(&format, "format", "table", "output: table or json")
	return cmd
}

// referrersJSON is imagec referrers --format json.
type referrersJSON struct {
	Subject   string               `json:"subject"`
	TagSchema bool                 `json:"tagSchema"`
	Manifests []ocispec.Descriptor `json:"manifests"`
}

func nonNil(d []ocispec.Descriptor) []ocispec.Descriptor {
	if d == nil {
		return []ocispec.Descriptor{}
	}
	return d
}

// annotationText is k=v pairs in key order; printRow escapes them.
func annotationText(a map[string]string) string {
	keys := slices.Sorted(maps.Keys(a))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + a[k]
	}
	return strings.Join(parts, ",")
}
