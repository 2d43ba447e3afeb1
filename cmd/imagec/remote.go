package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// The commands that read a registry without the store. tags and digest ask
// the registry itself: they report its present state (which tags exist,
// where a tag points now), which a mirror may lag behind or hold only in
// part. manifest reads where pull would, the configured mirrors first and
// the registry last, the bytes of a pinned digest verified wherever they
// come from.

// remote is what a command reading a registry works with: the reference
// it was given, the registry client the pull command uses (Docker's
// credentials, the configuration file's TLS settings, the global flags) and
// the configuration, for its mirrors.
type remote struct {
	ref    reference.Reference
	client *registry.Client
	cfg    *config.Config
}

// openRemote parses arg with parse (a reference, or a repository for tags),
// so a bad argument fails before anything is read, then builds the client.
func (g *globals) openRemote(arg string, parse func(string) (reference.Reference, error)) (*remote, error) {
	ref, err := parse(arg)
	if err != nil {
		return nil, err
	}
	client, cfg, err := g.client()
	if err != nil {
		return nil, err
	}
	return &remote{ref: ref, client: client, cfg: cfg}, nil
}

func newTagsCommand(g *globals) *cobra.Command {
	var pageSize int
	cmd := &cobra.Command{
		Use:   "tags [flags] REPOSITORY",
		Short: "List the tags of a repository in its registry, one per line",
		Long: "List the tags of a repository in its registry, one per line, in the registry's order.\n" +
			"Every page of the list is followed (the registry's Link headers); --page-size asks for\n" +
			"that many tags per request.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRemote(args[0], parseRepository)
			if err != nil {
				return err
			}
			tags, err := r.client.Tags(cmd.Context(), r.ref, registry.TagPageSize(pageSize))
			if err != nil {
				return err
			}
			for _, tag := range tags {
				printLine(os.Stdout, tag)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&pageSize, "page-size", 0, "tags per request (n=); 0 lets the registry choose")
	return cmd
}

func newDigestCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "digest NAME[:TAG|@DIGEST]",
		Short: "Print the digest a reference has in its registry",
		Long: "Print the digest of the manifest (or index) a reference names in its registry, as the\n" +
			"registry reports it to a HEAD request; a registry whose HEAD gives none is asked with a\n" +
			"GET, and the digest is that of the bytes it serves. A NAME@DIGEST must have that digest.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRemote(args[0], reference.Parse)
			if err != nil {
				return err
			}
			desc, err := r.client.Resolve(cmd.Context(), r.ref, manifest.Accept)
			if err != nil {
				return err
			}
			printLine(os.Stdout, desc.Digest.String())
			return nil
		},
	}
}

func newManifestCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "manifest NAME[:TAG|@DIGEST]",
		Short: "Print a manifest as the registry serves it",
		Long: "Print the manifest (or index) a reference names, byte for byte as served, from the\n" +
			"configured mirrors or else the registry, as pull would fetch it. The bytes of a\n" +
			"NAME@DIGEST are verified against the digest. On a terminal, characters a terminal would\n" +
			"act on are shown as JSON escapes; piped, the bytes are exact (`| sha256sum` gives the\n" +
			"digest).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRemote(args[0], reference.Parse)
			if err != nil {
				return err
			}
			m, err := r.manifest(cmd.Context())
			if err != nil {
				return err
			}
			return printDocument(os.Stdout, m.Body, term.IsTerminal(int(os.Stdout.Fd())))
		},
	}
}

// manifest fetches the reference's manifest where pull would: the
// configured mirrors first, the registry last, a pinned digest verified.
func (r *remote) manifest(ctx context.Context) (*registry.Manifest, error) {
	via, refs, err := imagec.Sources(r.client, r.cfg, r.ref)
	if err != nil {
		return nil, err
	}
	return via.GetManifestFrom(ctx, refs, manifest.Accept)
}

// parseRepository reads a repository name, refusing a tag or digest, which
// would be ignored.
func parseRepository(s string) (reference.Reference, error) {
	ref, err := reference.Parse(s)
	if err != nil {
		return reference.Reference{}, err
	}
	if last := s[strings.LastIndex(s, "/")+1:]; strings.ContainsAny(last, ":@") {
		return reference.Reference{}, fmt.Errorf("%q names a tag or digest: give a repository name only: %w", s, errdefs.ErrInvalidArgument)
	}
	return ref, nil
}
