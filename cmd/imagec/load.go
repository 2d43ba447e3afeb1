package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

func newLoadCommand(g *globals) *cobra.Command {
	var input string
	cmd := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Store the images of a docker-archive or OCI-layout tar",
		Long: "Read a tar archive written by imagec save, docker save, podman save or skopeo (docker-archive\n" +
			"or OCI layout, told apart by their contents) from FILE or standard input, verify every blob\n" +
			"and layer, and record its images under their names.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r io.Reader = os.Stdin
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			} else if term.IsTerminal(int(os.Stdin.Fd())) {
				return fmt.Errorf("refusing to read a tar archive from a terminal: use -i FILE or redirect the input: %w", errdefs.ErrInvalidArgument)
			}
			st, err := g.openStore()
			if err != nil {
				return err
			}
			loaded, err := archive.LoadImages(cmd.Context(), st, bufio.NewReaderSize(r, 1<<20))
			if err != nil {
				return err
			}
			for _, l := range loaded {
				if l.Name == "" {
					printLine(os.Stdout, "Loaded image ID: "+l.ID.String())
					continue
				}
				name := l.Name
				if ref, err := reference.Parse(l.Name); err == nil {
					name = ref.Familiar()
				}
				printLine(os.Stdout, "Loaded image: "+name)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from FILE instead of standard input")
	return cmd
}
