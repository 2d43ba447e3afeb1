// Package manifest decodes and validates the documents a registry serves for
// an image: OCI and Docker image manifests, OCI indexes and Docker manifest
// lists, and legacy Docker schema 1 manifests. It also verifies schema 1
// signatures, computes the digest docker shows for a manifest, synthesizes the
// image config docker built for schema 1 images, and picks the platform entry
// of an index. It does no I/O: callers fetch bodies and hand them in.
package manifest

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker media types. OCI media types are the ocispec constants.
const (
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig        = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeDockerLayer         = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// MaxSize bounds manifests and image configs: anything larger is refused with
// errdefs.ErrTooLarge. Real manifests are a few KiB; the bound keeps a hostile
// registry from making us buffer arbitrary amounts of memory.
const MaxSize = 4 << 20

// Accept lists the manifest media types a puller sends in its Accept header,
// most preferred first. Schema 1 comes last, as docker sends it, so that a
// registry able to convert only falls back to it when nothing else exists.
var Accept = []string{
	ocispec.MediaTypeImageIndex,
	MediaTypeDockerManifestList,
	ocispec.MediaTypeImageManifest,
	MediaTypeDockerManifest,
	MediaTypeDockerSchema1Signed,
	MediaTypeDockerSchema1,
}

// IsIndex reports whether mediaType is an OCI image index or a Docker
// manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// IsImage reports whether mediaType is an OCI image manifest or a Docker
// schema 2 image manifest.
func IsImage(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageManifest || mediaType == MediaTypeDockerManifest
}

// IsSchema1 reports whether mediaType is a Docker schema 1 manifest, signed
// or not.
func IsSchema1(mediaType string) bool {
	return mediaType == MediaTypeDockerSchema1 || mediaType == MediaTypeDockerSchema1Signed
}

// IsConfig reports whether mediaType is a container image config (Docker or
// OCI). Manifests whose config is anything else are artifacts, not images.
func IsConfig(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageConfig || mediaType == MediaTypeDockerConfig
}

// foreignTypes lists the non-distributable (OCI) and foreign (Docker) layer
// media types. Which media types are layers, and their compression, is
// compress.ForMediaType's. The OCI spellings are written out because their
// ocispec constants are deprecated.
var foreignTypes = map[string]bool{
	"application/vnd.oci.image.layer.nondistributable.v1.tar":      true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": true,
	MediaTypeDockerForeignLayer:                                    true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar":         true,
}

// IsForeign reports whether mediaType is a non-distributable (OCI) or foreign
// (Docker) layer: one that registries may not serve and that is fetched from
// the descriptor's URLs instead, if at all.
func IsForeign(mediaType string) bool {
	return foreignTypes[mediaType]
}
