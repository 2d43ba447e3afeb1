package pull

import (
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
)

// isOCI reports whether a document's media type is an OCI one, which every
// tool reading an OCI layout accepts as an index.json entry.
func isOCI(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageManifest || mediaType == ocispec.MediaTypeImageIndex
}

// wrapIndex is graph.WrapIndex as a document to store beside the others.
func wrapIndex(original digest.Digest, children []ocispec.Descriptor) (*document, ocispec.Descriptor, error) {
	body, entry, err := graph.WrapIndex(original, children)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	desc := entry
	desc.Annotations = nil
	return &document{desc: desc, body: body}, entry, nil
}
