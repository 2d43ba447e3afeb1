package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/reference"
)

func newRmiCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rmi IMAGE...",
		Short: "Remove image names from the store (blobs stay until no image needs them)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := g.openStore()
			if err != nil {
				return err
			}
			for _, arg := range args {
				imgs, err := image.Find(ctx, st, arg)
				if err != nil {
					return err
				}
				for _, img := range imgs {
					if err := st.RemoveImage(ctx, img.Name); err != nil {
						return err
					}
					name := img.Name
					if ref, err := reference.Parse(img.Name); err == nil {
						name = ref.Familiar()
					}
					printLine(os.Stdout, "Untagged: "+name)
				}
			}
			return nil
		},
	}
}
