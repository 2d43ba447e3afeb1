package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/push"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// sendFlags are the flags push and copy share.
type sendFlags struct {
	platform     string
	progressMode string
	parallel     int
	referrers    bool
}

func (sf *sendFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.platform, "platform", "", "send only this platform's manifest of an index, os/arch[/variant] (default the whole index)")
	f.StringVar(&sf.progressMode, "progress", "auto", "progress output: auto, tty, plain or json (Docker's JSON message stream)")
	f.IntVar(&sf.parallel, "max-concurrent-uploads", push.DefaultMaxConcurrentUploads, "how many blobs to send at once")
	f.BoolVar(&sf.referrers, "referrers", false, "also send the image's referrers (signatures, SBOMs, attestations) and theirs, after it; where the destination has no referrers API, the sha256-<hex> tag listing them is written")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if sf.parallel < 1 {
			return fmt.Errorf("--max-concurrent-uploads %d: must be at least 1: %w", sf.parallel, errdefs.ErrInvalidArgument)
		}
		if err := progress.CheckMode(sf.progressMode); err != nil {
			return fmt.Errorf("--progress: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		_, err := sf.options(progress.Discard())
		return err
	}
}

// options are the push options the flags set, progress going to sink.
func (sf *sendFlags) options(sink progress.Sink) ([]push.PushOption, error) {
	opts := []push.PushOption{push.WithProgress(sink)}
	if sf.referrers {
		opts = append(opts, push.WithReferrers(0, 0))
	}
	if sf.platform != "" {
		p, err := manifest.ParsePlatform(sf.platform)
		if err != nil {
			return nil, err
		}
		opts = append(opts, push.WithPlatform(p))
	}
	return opts, nil
}

// send runs fn with the flags' options, rendering progress to stdout.
func (sf *sendFlags) send(fn func([]push.PushOption) (*push.Result, error)) error {
	out, err := progress.New(sf.progressMode, os.Stdout)
	if err != nil {
		return err
	}
	opts, err := sf.options(out)
	if err != nil {
		return err
	}
	_, err = fn(opts)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func newPushCommand(g *globals) *cobra.Command {
	var sf sendFlags
	cmd := &cobra.Command{
		Use:   "push [flags] NAME [DESTINATION]",
		Short: "Upload a stored image to its registry, or to DESTINATION",
		Long: "Upload a stored image to the registry its name says, or to DESTINATION (a name with a\n" +
			"tag, or a digest that must be the image's). The registry receives the manifest bytes the\n" +
			"image was pulled with, so its digest stays the same; blobs it has are not sent, and blobs\n" +
			"it holds in NAME's repository are mounted. An index is sent whole, every manifest of it\n" +
			"must be in the store (or use --platform to send one). A schema 1 image is sent as the\n" +
			"schema 2 image imagec converted it to.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.open(imagec.WithMaxConcurrentTransfers(sf.parallel))
			if err != nil {
				return err
			}
			defer c.Close()
			imgs, err := image.Find(ctx, c.Store(), args[0])
			if err != nil {
				return err
			}
			name := imgs[0].Name
			dest, err := pushDestination(name, args[1:])
			if err != nil {
				return err
			}
			p, err := c.Pusher()
			if err != nil {
				return err
			}
			return sf.send(func(opts []push.PushOption) (*push.Result, error) {
				return p.Push(ctx, c.Store(), name, dest, opts...)
			})
		},
	}
	sf.register(cmd)
	return cmd
}

// pushDestination is where a push of the stored name goes: the name
// itself, or the one given.
func pushDestination(name string, given []string) (reference.Reference, error) {
	if len(given) > 0 {
		return reference.Parse(given[0])
	}
	ref, err := reference.Parse(name)
	if err != nil {
		return reference.Reference{}, fmt.Errorf("%s names no registry: give a DESTINATION: %w", name, errdefs.ErrInvalidArgument)
	}
	return ref, nil
}

func newCopyCommand(g *globals) *cobra.Command {
	var (
		sf      sendFlags
		allTags bool
	)
	cmd := &cobra.Command{
		Use:   "copy [flags] SOURCE DESTINATION",
		Short: "Copy an image from one registry to another, without the store",
		Long: "Copy an image from a registry to another (or within one), streamed: nothing is stored\n" +
			"locally, every manifest is checked against its digest and every blob by the destination\n" +
			"as it arrives. An index is copied whole, so its digest is kept; --platform copies one\n" +
			"platform's manifest. Mirrors configured for SOURCE's registry are read first. Within one\n" +
			"registry, blobs are mounted rather than copied. --all-tags copies every tag of the\n" +
			"SOURCE repository to the DESTINATION repository.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := reference.Parse(args[0])
			if err != nil {
				return err
			}
			dest, err := reference.Parse(args[1])
			if err != nil {
				return err
			}
			// No store: the registry client alone, as the CLI builds it.
			reg, cfg, err := g.client()
			if err != nil {
				return err
			}
			defer reg.Close()
			p := push.New(reg, push.WithMaxConcurrentUploads(sf.parallel))
			if allTags {
				return copyAllTags(cmd.Context(), cfg, reg, p, &sf, src, dest)
			}
			return sf.send(func(opts []push.PushOption) (*push.Result, error) {
				return copyOne(cmd.Context(), cfg, reg, p, src, dest, opts)
			})
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&allTags, "all-tags", false, "copy every tag of the SOURCE repository (4 at a time)")
	return cmd
}

// copyOne copies src to dest, reading src at its mirrors first.
func copyOne(ctx context.Context, cfg *config.Config, reg *registry.Client, p *push.Pusher, src, dest reference.Reference, opts []push.PushOption) (*push.Result, error) {
	via, refs, err := imagec.Sources(reg, cfg, src)
	if err != nil {
		return nil, err
	}
	return p.Copy(ctx, src, dest, append(opts, push.WithSourceEndpoints(refs), push.WithSourceClient(via))...)
}

// copyAllTags copies every tag of src's repository to dest's, a few at a
// time, printing a line per tag.
func copyAllTags(ctx context.Context, cfg *config.Config, reg *registry.Client, p *push.Pusher, sf *sendFlags, src, dest reference.Reference) error {
	tags, err := reg.Tags(ctx, src)
	if err != nil {
		return err
	}
	opts, err := sf.options(progress.Discard())
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, tag := range tags {
		g.Go(func() error {
			res, err := copyOne(gctx, cfg, reg, p, src.WithTag(tag), dest.WithTag(tag), opts)
			if err != nil {
				return err
			}
			printLine(os.Stdout, fmt.Sprintf("%s: digest: %s size: %d", res.Reference, res.Desc.Digest, res.Desc.Size))
			return nil
		})
	}
	return g.Wait()
}
