package image

import (
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layer is one layer of an image with what the config says of it.
type Layer struct {
	Desc ocispec.Descriptor
	// DiffID is the digest of the uncompressed layer, from the config.
	DiffID digest.Digest
	// CreatedBy is the history command that made the layer, if recorded.
	CreatedBy string
}

// Layers pairs each manifest layer with its diffID and the history entry
// that produced it. History entries marked empty_layer made no layer, so
// they are skipped when counting; a config whose history does not line up
// leaves CreatedBy empty rather than guessing.
func (img *Image) Layers() []Layer {
	var made []string
	for _, h := range img.Config.History {
		if !h.EmptyLayer {
			made = append(made, h.CreatedBy)
		}
	}
	aligned := len(made) == len(img.Manifest.Layers)
	out := make([]Layer, len(img.Manifest.Layers))
	for i, d := range img.Manifest.Layers {
		out[i].Desc = d
		if i < len(img.Config.RootFS.DiffIDs) {
			out[i].DiffID = img.Config.RootFS.DiffIDs[i]
		}
		if aligned {
			out[i].CreatedBy = made[i]
		}
	}
	return out
}
