package image

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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

// Tag names target the image arg names (a reference, an image ID or a
// unique prefix of one), as docker tag does: target must be a tag, not a
// digest, and arg must name one image (errdefs.ErrInvalidArgument
// otherwise). What target named before is replaced.
func Tag(ctx context.Context, st content.Store, arg string, target reference.Reference) (*Image, error) {
	if target.Digest() != "" {
		return nil, fmt.Errorf("tag %s: refusing to create a tag with a digest reference: %w", target, errdefs.ErrInvalidArgument)
	}
	imgs, err := Find(ctx, st, arg)
	if err != nil {
		return nil, err
	}
	img := imgs[0]
	for _, other := range imgs[1:] {
		if other.Entry.Digest != img.Entry.Digest {
			return nil, fmt.Errorf("tag: %s names %d different images: %w", arg, len(imgs), errdefs.ErrInvalidArgument)
		}
	}
	entry := img.Entry
	entry.Annotations = maps.Clone(entry.Annotations)
	delete(entry.Annotations, ocispec.AnnotationRefName)
	if err := st.SetImage(ctx, target.String(), entry); err != nil {
		return nil, fmt.Errorf("tag %s: %w", target, err)
	}
	return img, nil
}
