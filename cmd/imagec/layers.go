package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/termtext"
	"github.com/imagec/imagec/layers"
	"github.com/imagec/imagec/progress"
)

func newLayersCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "layers IMAGE",
		Short: "List an image's layers: digest, diffID, size and the command that created each",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			imgs, err := image.Find(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			ls, err := layers.OpenArea(st)
			if err != nil {
				return err
			}
			unpacked := ls.Unpacked(imgs[0])
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "DIGEST\tDIFF ID\tSIZE\tUNPACKED\tCREATED BY")
			for i, l := range imgs[0].Layers() {
				yes := "no"
				if unpacked[i] {
					yes = "yes"
				}
				printRow(w, l.Desc.Digest.String(), l.DiffID.String(), progress.HumanSize(l.Desc.Size), yes, truncate(termtext.Escape(l.CreatedBy), 60))
			}
			return w.Flush()
		},
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
