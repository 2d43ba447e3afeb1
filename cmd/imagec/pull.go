package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
)

func newPullCommand(g *globals) *cobra.Command {
	var (
		platform     string
		progressMode string
		parallel     int
		foreign      bool
		username     string
		passStdin    bool
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
			var extra []registry.Option
			if username != "" || passStdin {
				cred, err := flagCredential(username, passStdin)
				if err != nil {
					return err
				}
				extra = append(extra, registry.WithCredentials(func(_ context.Context, host string) (auth.Credential, error) {
					// Only for the registry being pulled from: never offered to another host.
					if host != ref.Host() {
						return auth.Credential{}, nil
					}
					return cred, nil
				}))
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			client, err := g.client(cfg, extra...)
			if err != nil {
				return err
			}
			puller := pull.New(client, st, pull.WithMaxConcurrentDownloads(parallel), endpoints(cfg))
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
	f.StringVarP(&username, "username", "u", "", "user name for the registry (instead of Docker's config.json); the password is read from stdin")
	f.BoolVar(&passStdin, "password-stdin", false, "read the registry password (or token) from stdin")
	f.BoolVar(&foreign, "include-foreign-layers", false, "also download non-distributable (foreign) layers, from the registry")
	return cmd
}

// flagCredential builds the credential of pull's --username and
// --password-stdin, which take precedence over Docker's config.json.
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
