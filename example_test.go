package imagec_test

import (
	"context"
	"fmt"
	"log"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/reference"
)

// Pulling an image from a Go program the way the imagec command does: the
// default store, imagec's configuration file (mirrors) and Docker's
// credentials.
func Example() {
	ctx := context.Background()
	c, err := imagec.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	res, err := c.Pull(ctx, reference.MustParse("alpine:3.20"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Digest, res.ImageID)
}
