package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/reference"
)

func newTagCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give a stored image another name (SOURCE: a name, an image ID or a unique prefix)",
		Long: "Give a stored image another name, as docker tag does. TARGET is a name with a tag\n" +
			"(a missing tag means latest); the image's content is shared, nothing is copied. What\n" +
			"TARGET named before keeps its blobs until gc.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := reference.Parse(args[1])
			if err != nil {
				return err
			}
			st, err := g.openStore()
			if err != nil {
				return err
			}
			if _, err := image.Tag(cmd.Context(), st, args[0], target); err != nil {
				return err
			}
			printLine(os.Stdout, target.String())
			return nil
		},
	}
}
