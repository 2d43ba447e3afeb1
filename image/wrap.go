package image

import (
	"encoding/json"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// WrapIndex builds the OCI index through which a Docker-typed image is
// named in index.json, and that index's entry. Tools reading OCI layouts
// (skopeo among them) skip index.json entries of Docker media types, so a
// Docker manifest, manifest list or converted schema 1 image is entered
// through a small OCI index listing the same manifests. original is the
// stored blob of the document the registry sent, named by an annotation of
// the index: it keeps the blob alive through garbage collection, and it is
// what the image's repo digest is derived from (see source.go).
func WrapIndex(original digest.Digest, children []ocispec.Descriptor) ([]byte, ocispec.Descriptor, error) {
	body, err := json.Marshal(ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   children,
		Annotations: map[string]string{AnnotationSourceBlob: original.String()},
	})
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	entry := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageIndex,
		Digest:    digest.FromBytes(body),
		Size:      int64(len(body)),
	}
	return body, entry, nil
}

// PlatformOf is the platform a config declares, for an index entry, or nil
// when it declares none (images built from scratch by some tools): an
// empty platform would read as "for no OS and no architecture", which
// other tools (skopeo) then refuse to select.
func PlatformOf(cfg *ocispec.Image) *ocispec.Platform {
	if cfg.OS == "" && cfg.Architecture == "" {
		return nil
	}
	return &ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
}
