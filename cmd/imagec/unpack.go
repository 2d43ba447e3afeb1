package main

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
)

func newUnpackCommand(g *globals) *cobra.Command {
	var pf pullFlags
	cmd := &cobra.Command{
		Use:   "unpack [flags] IMAGE DIR",
		Short: "Write an image's root filesystem to DIR (pulling the image first if needed)",
		Long: "Write the root filesystem of IMAGE to DIR, which must not exist or be empty. Layers\n" +
			"already unpacked in the store (imagec pull --unpack) are copied from there, each file\n" +
			"checked against the record made when the layer was unpacked; the others are extracted\n" +
			"from their blobs, each verified against its diffID. If an unpacked layer differs from\n" +
			"its record, what was copied is discarded and the image is extracted from its blobs\n" +
			"(with a warning; imagec fsck --repair removes that layer). Every path stays inside DIR.\n" +
			"The tree is built beside DIR and renamed into place when complete.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := pf.openFor(g, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			ls, err := c.Layers()
			if err != nil {
				return err
			}
			rootfs, err := ls.NewRootfs(ctx, args[1])
			if err != nil {
				return err
			}
			defer rootfs.Abort()
			// Layers are applied as they arrive when the image is pulled.
			img, err := findOrPull(ctx, c, &pf, args[0], pull.WithLayerHook(rootfs.Apply))
			if err != nil {
				return err
			}
			if err := rootfs.Finish(ctx, img); err != nil {
				return err
			}
			for _, err := range rootfs.Distrusted() {
				printLine(os.Stderr, "warning: "+err.Error()+"; extracted the image from its blobs instead (imagec fsck --repair removes the layer)")
			}
			printLine(os.Stderr, "Unpacked "+img.Name+" to "+args[1])
			return nil
		},
	}
	pf.register(cmd)
	return cmd
}

// findOrPull returns the image arg names in the store, pulling it first
// when the store does not have it (as docker run does). Progress goes to
// stderr: stdout stays for what the command itself prints.
func findOrPull(ctx context.Context, c *imagec.Client, pf *pullFlags, arg string, opts ...pull.PullOption) (*image.Image, error) {
	if pf.platform == "" {
		imgs, err := c.Find(ctx, arg)
		if err == nil {
			return imgs[0], nil
		}
		if !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	ref, err := reference.Parse(arg)
	if err != nil {
		return nil, err
	}
	res, err := pf.pull(ctx, c, ref, os.Stderr, opts...)
	if err != nil {
		return nil, err
	}
	return loadPulled(ctx, c.Store(), res)
}
