package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
)

func newPullCommand(g *globals) *cobra.Command {
	var (
		platform     string
		progressMode string
		parallel     int
		foreign      bool
	)
	cmd := &cobra.Command{
		Use:   "pull [flags] NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry into the store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := reference.Parse(args[0])
			if err != nil {
				return err
			}
			var opts []pull.PullOption
			if platform != "" {
				p, err := manifest.ParsePlatform(platform)
				if err != nil {
					return err
				}
				opts = append(opts, pull.WithPlatform(p))
			}
			out, err := progress.New(progressMode, os.Stdout)
			if err != nil {
				return err
			}
			st, err := g.openStore()
			if err != nil {
				return err
			}
			client, err := g.client()
			if err != nil {
				return err
			}
			puller := pull.New(client, st, pull.WithMaxConcurrentDownloads(parallel))
			opts = append(opts, pull.WithProgress(out), pull.WithForeignLayers(foreign))
			_, err = puller.Pull(cmd.Context(), ref, opts...)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if progressMode != "json" {
				fmt.Fprintln(os.Stdout, ref.String())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "platform to pull from a multi-platform image, os/arch[/variant] (default the host's)")
	f.StringVar(&progressMode, "progress", "auto", "progress output: auto, tty, plain or json (Docker's JSON message stream)")
	f.IntVar(&parallel, "max-concurrent-downloads", pull.DefaultMaxConcurrentDownloads, "how many layers to download at once")
	f.BoolVar(&foreign, "include-foreign-layers", false, "also download non-distributable (foreign) layers, from the registry")
	return cmd
}
