package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/fsck"
)

func newFsckCommand(g *globals) *cobra.Command {
	var (
		repair bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "fsck [flags]",
		Short: "Verify every blob, image and unpacked layer in the store; --repair removes what is broken",
		Long: "Verify every blob against its digest, walk every name to its content and check every\n" +
			"unpacked layer against its record. Exit status 1 means problems were found. Partial\n" +
			"downloads left by an interrupted pull are listed as resumable, not as problems: the next\n" +
			"pull of the image resumes them (--repair and gc prune them).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
			st, err := g.openStore()
			if err != nil {
				return err
			}
			rep, err := fsck.Check(cmd.Context(), st, fsck.WithRepair(repair))
			if err != nil {
				return err
			}
			if format == "json" {
				if err := printJSON(os.Stdout, rep); err != nil {
					return err
				}
			} else {
				printFsck(rep, repair)
			}
			left := len(rep.Remaining())
			switch {
			case left == 0:
				return nil
			case repair:
				return fmt.Errorf("store has %s that --repair could not fix", problems(left))
			default:
				return fmt.Errorf("store has %s (run imagec fsck --repair)", problems(left))
			}
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "delete corrupt blobs and stray files, remove names whose content is incomplete and unpacked layers that differ from their records, prune stale partial downloads")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// printFsck prints one line per problem, what repair did, and a summary.
func printFsck(rep *fsck.Report, repair bool) {
	for _, p := range rep.Problems {
		printLine(os.Stdout, p.String())
	}
	for _, p := range rep.Resumable {
		printLine(os.Stdout, "resumable: "+p.String())
	}
	for _, a := range rep.Repaired {
		printLine(os.Stdout, "repair: "+a)
	}
	n := len(rep.Problems)
	checked := count(rep.Blobs, "blob") + ", " + count(rep.Images, "image")
	if rep.Layers > 0 {
		checked += ", " + count(rep.Layers, "unpacked layer")
	}
	summary := fmt.Sprintf("checked %s: %s", checked, problems(n))
	if r := len(rep.Resumable); r > 0 {
		summary += fmt.Sprintf(", %s (a later pull resumes %s)", count(r, "partial download"), map[bool]string{true: "it", false: "them"}[r == 1])
	}
	if fixed := n - len(rep.Remaining()); repair && n > 0 {
		if fixed == n {
			summary += " repaired"
		} else {
			summary += fmt.Sprintf(", %d repaired", fixed)
		}
	}
	fmt.Fprintln(os.Stdout, summary)
}

func problems(n int) string { return count(n, "problem") }

// count says "1 blob", "2 blobs".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
