package pull

import (
	"encoding/json"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/image"
)

// isOCI reports whether a document's media type is an OCI one, which every
// tool reading an OCI layout accepts as an index.json entry.
func isOCI(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageManifest || mediaType == ocispec.MediaTypeImageIndex
}

// platformOf is the platform a config declares, for an index entry.
func platformOf(cfg *ocispec.Image) *ocispec.Platform {
	return &ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
}

// wrapIndex builds the OCI index that names a Docker-typed image in
// index.json. Tools reading OCI layouts (skopeo among them) skip index.json
// entries of Docker media types, so a Docker manifest, manifest list or
// converted schema 1 image is entered through a small OCI index listing the
// same manifests, stored byte for byte beside it. The digest the registry
// serves the image under is kept as an annotation: it is the repo digest.
//
// original is the stored blob of the document the registry sent, kept
// referenced through an annotation of the index.
func wrapIndex(source, original digest.Digest, children []ocispec.Descriptor) (*document, ocispec.Descriptor, error) {
	body, err := json.Marshal(ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   children,
		Annotations: map[string]string{image.AnnotationSourceBlob: original.String()},
	})
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	doc := &document{
		desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(body), Size: int64(len(body))},
		body: body,
	}
	entry := doc.desc
	entry.Annotations = map[string]string{image.AnnotationSourceDigest: source.String()}
	return doc, entry, nil
}
