package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/progress"
)

func newGCCommand(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc [flags]",
		Short: "Remove blobs, unpacked layers and partial downloads that no image needs",
		Long: "Remove from the store everything no image name references. It waits for running\n" +
			"pulls to finish and holds new ones off while it works. After `imagec rmi`, `imagec gc`\n" +
			"frees the space.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.open()
			if err != nil {
				return err
			}
			rep, err := c.GC(cmd.Context(), gc.WithDryRun(dryRun))
			if err != nil {
				return err
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			fmt.Fprintf(os.Stdout, "%s %d blobs (%s), %d partial downloads", verb, rep.Blobs, progress.HumanSize(rep.Bytes), rep.Ingest)
			for kind, n := range rep.Extra {
				fmt.Fprintf(os.Stdout, ", %d %s", n, kind)
			}
			fmt.Fprintln(os.Stdout)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report exactly what gc would remove now (blobs, partial downloads, unpacked layers), removing nothing")
	return cmd
}
