package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
)

func newSaveCommand(g *globals) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [-o FILE] [--format docker|oci] IMAGE...",
		Short: "Write images to a tar archive that docker load, podman load or skopeo read",
		Long: "Write images to a tar archive, to FILE or to standard output.\n" +
			"--format docker (the default) writes a docker-archive, as docker save does; --format oci\n" +
			"writes an OCI image layout in a tar (skopeo's oci-archive:). Blobs shared by several\n" +
			"images are written once.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := archive.ParseFormat(format)
			if err != nil {
				return err
			}
			if output == "" && term.IsTerminal(int(os.Stdout.Fd())) {
				return fmt.Errorf("refusing to write a tar archive to a terminal: use -o FILE or redirect the output: %w", errdefs.ErrInvalidArgument)
			}
			st, err := g.openStore()
			if err != nil {
				return err
			}
			var names []string
			seen := map[string]bool{}
			for _, arg := range args {
				imgs, err := image.Find(ctx, st, arg)
				if err != nil {
					return err
				}
				for _, img := range imgs {
					if !seen[img.Name] {
						seen[img.Name] = true
						names = append(names, img.Name)
					}
				}
			}
			if output == "" {
				w := bufio.NewWriterSize(os.Stdout, 1<<20)
				if err := archive.Save(ctx, st, w, f, names); err != nil {
					return err
				}
				return w.Flush()
			}
			return writeAtomically(output, func(w io.Writer) error {
				return archive.Save(ctx, st, w, f, names)
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to FILE instead of standard output")
	cmd.Flags().StringVar(&format, "format", string(archive.FormatDocker), "archive format: docker or oci")
	return cmd
}

// writeAtomically writes path through a temp file beside it, renamed into
// place only once write succeeded, so an interrupted save never leaves a
// truncated archive under the name asked for.
func writeAtomically(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(w); err != nil {
		return err
	}
	if err := errors.Join(w.Flush(), tmp.Chmod(0o644), tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	committed = true
	return nil
}
