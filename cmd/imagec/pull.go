package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry/auth"
	"github.com/imagec/imagec/verify"
)

// pullFlags are the flags of every command that may pull.
type pullFlags struct {
	platform     string
	progressMode string
	parallel     int
	parts        int
	foreign      bool
	username     string
	passStdin    bool
	referrers    bool
	trust        trustFlags
}

func (pf *pullFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&pf.platform, "platform", "", "platform to pull from a multi-platform image, os/arch[/variant] (default the host's)")
	f.StringVar(&pf.progressMode, "progress", "auto", "progress output: auto, tty, plain or json (Docker's JSON message stream)")
	f.IntVar(&pf.parallel, "max-concurrent-downloads", pull.DefaultMaxConcurrentDownloads, "how many layers to download (and unpack) at once")
	f.IntVar(&pf.parts, "parts", 0, "how many concurrent range requests one large blob (16 MiB or more) is fetched with, always; 1 for one stream (default: 8 when a blob's first part arrives slower than 100 MB/s, else one stream; a registry's \"parts\" in the config file wins)")
	f.StringVarP(&pf.username, "username", "u", "", "user name for the registry (instead of Docker's config.json); the password is read from stdin")
	f.BoolVar(&pf.passStdin, "password-stdin", false, "read the registry password (or token) from stdin")
	f.BoolVar(&pf.foreign, "include-foreign-layers", false, "also download non-distributable (foreign) layers, from the URLs they list (else the registry)")
	f.BoolVar(&pf.referrers, "referrers", false, "also pull the image's referrers (signatures, SBOMs, attestations) and theirs, 4 levels and 256 manifests at most")
	pf.trust.register(f, true)
	// Bad flags fail before anything is opened or fetched.
	cmd.PreRunE = func(*cobra.Command, []string) error { return pf.check() }
}

// check validates the flags' values.
func (pf *pullFlags) check() error {
	if pf.parallel < 1 {
		return fmt.Errorf("--max-concurrent-downloads %d: must be at least 1: %w", pf.parallel, errdefs.ErrInvalidArgument)
	}
	if pf.parts < 0 || pf.parts > 64 {
		return fmt.Errorf("--parts %d: must be from 1 to 64 (0: decided by the link's speed): %w", pf.parts, errdefs.ErrInvalidArgument)
	}
	if err := progress.CheckMode(pf.progressMode); err != nil {
		return fmt.Errorf("--progress: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	_, err := pf.wantPlatform()
	return err
}

// wantPlatform is the --platform flag parsed, or nil for the host's.
func (pf *pullFlags) wantPlatform() (*ocispec.Platform, error) {
	if pf.platform == "" {
		return nil, nil
	}
	p, err := manifest.ParsePlatform(pf.platform)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// options are the library options the pull flags set for pulling ref:
// the concurrency, and --username's credential, offered only to ref's
// registry.
func (pf *pullFlags) options(ref reference.Reference) ([]imagec.Option, error) {
	opts := []imagec.Option{imagec.WithMaxConcurrentTransfers(pf.parallel)}
	if pf.username == "" && !pf.passStdin {
		return opts, nil
	}
	cred, err := flagCredential(pf.username, pf.passStdin)
	if err != nil {
		return nil, err
	}
	return append(opts, imagec.WithCredentials(func(_ context.Context, host string) (auth.Credential, error) {
		// Only for the registry being pulled from: never offered to another host.
		if host != ref.Host() {
			return auth.Credential{}, nil
		}
		return cred, nil
	})), nil
}

// open opens the client a pull of ref uses.
func (pf *pullFlags) open(g *globals, ref reference.Reference) (*imagec.Client, error) {
	opts, err := pf.options(ref)
	if err != nil {
		return nil, err
	}
	return g.open(opts...)
}

// openFor opens the client for a command that may pull arg (a reference,
// or an image ID that names no registry).
func (pf *pullFlags) openFor(g *globals, arg string) (*imagec.Client, error) {
	if ref, err := reference.Parse(arg); err == nil {
		return pf.open(g, ref)
	}
	return g.open(imagec.WithMaxConcurrentTransfers(pf.parallel))
}

// pull pulls ref into c's store, printing progress to w.
func (pf *pullFlags) pull(ctx context.Context, c *imagec.Client, ref reference.Reference, w *os.File, more ...pull.PullOption) (*pull.Result, error) {
	platform, err := pf.wantPlatform()
	if err != nil {
		return nil, err
	}
	puller, err := c.Puller(pull.WithParts(pf.parts))
	if err != nil {
		return nil, err
	}
	out, err := progress.New(pf.progressMode, w)
	if err != nil {
		return nil, err
	}
	opts := append([]pull.PullOption{pull.WithProgress(out), pull.WithForeignLayers(pf.foreign)}, more...)
	if platform != nil {
		opts = append(opts, pull.WithPlatform(*platform))
	}
	if pf.referrers {
		opts = append(opts, pull.WithReferrers(0, 0))
	}
	if v, err := pf.verifier(c); err != nil {
		out.Close()
		return nil, err
	} else if v != nil {
		opts = append(opts, pull.WithVerifier(v))
	}
	res, err := puller.Pull(ctx, ref, opts...)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return res, err
}

// verifier is the trust policy's verifier the flags and the configuration
// ask for, or nil.
func (pf *pullFlags) verifier(c *imagec.Client) (*verify.Verifier, error) {
	reg, err := c.Registry()
	if err != nil {
		return nil, err
	}
	cfg, err := c.Config()
	if err != nil {
		return nil, err
	}
	return pf.trust.verifier(reg, cfg, false)
}

// loadPulled reads back the image manifest a pull just fetched.
func loadPulled(ctx context.Context, st *local.Store, res *pull.Result) (*image.Image, error) {
	img, err := image.Load(ctx, st, res.Manifest, nil)
	if err != nil {
		return nil, err
	}
	img.Name = res.Reference.String()
	return img, nil
}

func newPullCommand(g *globals) *cobra.Command {
	var (
		pf      pullFlags
		unpackL bool
	)
	cmd := &cobra.Command{
		Use:   "pull [flags] NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry into the store",
		Long: "Pull an image from a registry into the store.\n\n" +
			"Network errors, 429 and 5xx are retried with backoff (or after Retry-After, up to 60s):\n" +
			"at most 5 requests per manifest and per blob at each endpoint (mirror, then registry),\n" +
			"resumes of a broken download included. Response headers must arrive within 30s and no\n" +
			"body may stall for 30s; manifests, configs, tokens and error bodies must also arrive\n" +
			"whole within 60s per request. A layer may download for as long as it keeps moving.\n\n" +
			"Only what imagec verified counts: every blob is checked against its digest before it is\n" +
			"stored; a blob present in the store must be a regular file of its descriptor's size (a\n" +
			"truncated or symlinked one is fetched again); the tag is compared with a digest derived\n" +
			"from stored, verified content, never from an annotation; a NAME@DIGEST is served from the\n" +
			"store only if the stored content has that digest.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := reference.Parse(args[0])
			if err != nil {
				return err
			}
			c, err := pf.open(g, ref)
			if err != nil {
				return err
			}
			defer c.Close()
			st := c.Store()
			res, err := pf.pull(cmd.Context(), c, ref, os.Stdout)
			if err != nil {
				return err
			}
			if unpackL {
				img, err := loadPulled(cmd.Context(), st, res)
				if err != nil {
					return err
				}
				ls, err := c.Layers()
				if err != nil {
					return err
				}
				if err := ls.Ensure(cmd.Context(), img, pf.parallel); err != nil {
					return err
				}
			}
			if pf.progressMode != "json" {
				fmt.Fprintln(os.Stdout, ref.String())
			}
			return nil
		},
	}
	pf.register(cmd)
	cmd.Flags().BoolVar(&unpackL, "unpack", false, "also unpack the layers into the store's layer area (overlayfs-ready, shared between images)")
	return cmd
}

// flagCredential builds the credential of --username and --password-stdin,
// which take precedence over Docker's config.json.
func flagCredential(username string, passStdin bool) (auth.Credential, error) {
	if username == "" || !passStdin {
		return auth.Credential{}, fmt.Errorf("--username and --password-stdin go together: %w", errdefs.ErrInvalidArgument)
	}
	password, err := readPassword(bufio.NewReader(os.Stdin), true)
	if err != nil {
		return auth.Credential{}, err
	}
	if password == "" {
		return auth.Credential{}, fmt.Errorf("empty password on stdin: %w", errdefs.ErrInvalidArgument)
	}
	return auth.Credential{Username: username, Password: password}, nil
}
