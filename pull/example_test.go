package pull_test

import (
	"context"
	"fmt"
	"log"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// Pulling an image from a Go program.
func Example() {
	ctx := context.Background()
	st, err := local.Open("/var/tmp/images")
	if err != nil {
		log.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	res, err := pull.New(client, st).Pull(ctx, reference.MustParse("alpine:3.20"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Digest, res.ImageID)
}
