package image

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// Find resolves what a user typed to the images it names: a reference
// ("alpine", "localhost:5000/x:1"), or an image ID or a prefix of one (at
// least 4 hex digits), as docker accepts; a prefix may name several
// images. No match is errdefs.ErrNotFound.
func Find(ctx context.Context, st content.View, arg string) ([]*Image, error) {
	if ref, err := reference.Parse(arg); err == nil {
		entry, err := st.Image(ctx, ref.String())
		if err == nil {
			img, err := Load(ctx, st, entry, nil)
			if err != nil {
				return nil, err
			}
			return []*Image{img}, nil
		}
		if !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	id := strings.TrimPrefix(arg, "sha256:")
	if len(id) >= 4 && isHex(id) {
		imgs, _ := List(ctx, st)
		var out []*Image
		for _, img := range imgs {
			if strings.HasPrefix(img.ID().Encoded(), id) {
				out = append(out, img)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("no such image: %s: %w", arg, errdefs.ErrNotFound)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
