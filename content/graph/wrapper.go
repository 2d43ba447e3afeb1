// Package graph owns the shape of the content graph: what a document
// refers to (an index its manifests, a manifest its config and layers, a
// schema 1 manifest its layers), how deep indexes may nest, and the rules
// of the index imagec wraps around a Docker-typed image. Walk visits the
// graph from a set of roots; gc, fsck, save and push are its callers.
// RepoDigest derives, from verified content only, the digest a registry
// serves an image under.
package graph

import (
	"encoding/json"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/manifest"
)

// AnnotationSourceBlob, on an index imagec wrote around a Docker-typed
// image, names the blob holding the document the registry sent (a
// manifest list, a manifest, or a signed schema 1 manifest). It keeps that
// blob alive through garbage collection, and the image's repo digest is
// derived from it (see RepoDigest).
const AnnotationSourceBlob = "io.imagec.source.blob"

// AnnotationSourceDigest was written by earlier versions of imagec on an
// index.json entry, giving the repo digest of a wrapped image. It is never
// read: an annotation proves nothing. Imports strip it.
const AnnotationSourceDigest = "io.imagec.source.digest"

// AnnotationPrefix starts every annotation imagec writes.
const AnnotationPrefix = "io.imagec."

// WrapIndex builds the OCI index through which a Docker-typed image is
// named, and the index's descriptor. Tools reading OCI layouts (skopeo
// among them) skip index.json entries of Docker media types, so a Docker
// manifest, manifest list or converted schema 1 image is entered through a
// small OCI index listing the same manifests. original is the stored blob
// of the document the registry sent.
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
	return body, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(body), Size: int64(len(body))}, nil
}

// Source returns the document an imagec wrapper index names as its origin,
// if idx is one.
func Source(idx *ocispec.Index) (digest.Digest, bool) {
	if idx == nil {
		return "", false
	}
	d, err := digest.Parse(idx.Annotations[AnnotationSourceBlob])
	return d, err == nil
}

// IsLone reports whether idx is imagec's wrapper of a single manifest (the
// registry served a manifest, not an index), which has no platform to
// choose: it runs as what it is, whatever the host.
func IsLone(idx *ocispec.Index) bool {
	_, wrapped := Source(idx)
	return wrapped && len(idx.Manifests) == 1 && manifest.IsImage(idx.Manifests[0].MediaType)
}
