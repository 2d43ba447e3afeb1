package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
)

// imageRow is one line of `imagec images`, and its JSON form.
type imageRow struct {
	Name       string    `json:"Name"`
	Repository string    `json:"Repository"`
	Tag        string    `json:"Tag"`
	Digest     string    `json:"Digest"`
	ID         string    `json:"ID"`
	Created    time.Time `json:"Created"`
	Size       int64     `json:"Size"`
}

func rowOf(img *image.Image) imageRow {
	r := imageRow{Name: img.Name, Repository: img.Name, Tag: "<none>", Digest: img.RepoDigest().String(), ID: img.ID().String(), Size: img.Size()}
	if ref, err := reference.Parse(img.Name); err == nil {
		r.Repository = ref.FamiliarName()
		if ref.Tag() != "" {
			r.Tag = ref.Tag()
		}
	}
	if img.Config.Created != nil {
		r.Created = *img.Config.Created
	}
	return r
}

func newImagesCommand(g *globals) *cobra.Command {
	var (
		format  string
		digests bool
	)
	cmd := &cobra.Command{
		Use:   "images [flags]",
		Short: "List the images in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore()
			if err != nil {
				return err
			}
			imgs, errs := image.List(cmd.Context(), st)
			for _, err := range errs {
				printLine(os.Stderr, "imagec: warning: "+err.Error())
			}
			rows := make([]imageRow, 0, len(imgs))
			for _, img := range imgs {
				rows = append(rows, rowOf(img))
			}
			switch format {
			case "json":
				return printJSON(os.Stdout, rows)
			case "table", "":
				return printImages(rows, digests)
			default:
				return fmt.Errorf("unknown --format %q: use table or json", format)
			}
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVar(&digests, "digests", false, "show the repository digest of each image")
	return cmd
}

func printImages(rows []imageRow, digests bool) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	if digests {
		fmt.Fprintln(w, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
	} else {
		fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, r := range rows {
		id := progress.ShortID(r.ID)
		created := ago(r.Created)
		if digests {
			printRow(w, r.Repository, r.Tag, r.Digest, id, created, progress.HumanSize(r.Size))
		} else {
			printRow(w, r.Repository, r.Tag, id, created, progress.HumanSize(r.Size))
		}
	}
	return w.Flush()
}

// ago renders a creation time as docker does: "3 days ago".
func ago(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "Less than a minute ago"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 14*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d/(7*24*time.Hour)), "week") + " ago"
	case d < 2*365*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month") + " ago"
	default:
		return plural(int(d/(365*24*time.Hour)), "year") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "About an hour"
		}
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
