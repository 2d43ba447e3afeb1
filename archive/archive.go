// Package archive exports images from the store to single tar files that
// other tools load, and imports such files back.
//
// Two formats are written. FormatDocker is a docker-archive as docker save
// (25 and later) writes it: manifest.json and repositories at the top, and
// the config and layers as blobs/sha256/<hex>; docker load, podman load and
// skopeo's docker-archive: read it. Layers are the blobs the store holds,
// usually compressed: docker, podman and skopeo decompress layer files when
// they load them. Unlike docker 25, no index.json or oci-layout is added,
// because podman tries a file as an OCI archive first and would then name
// the images after the tag alone. FormatOCI is an OCI image layout in a tar
// (skopeo's oci-archive:), with the store's index.json entries of the chosen
// names and every blob they reach.
//
// Load reads either (and docker-archives of older docker versions and other
// tools, whose files have other names) without holding the archive in
// memory: every blob is hashed while it is streamed into the store and
// becomes visible there only once verified.
package archive

import (
	"fmt"
	"path"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
)

// Format is an archive format Save writes.
type Format string

const (
	// FormatDocker is a docker-archive: what docker save writes and docker
	// load, podman load and skopeo's docker-archive: transport read.
	FormatDocker Format = "docker"
	// FormatOCI is an OCI image layout in a tar: skopeo's oci-archive:.
	FormatOCI Format = "oci"
)

// ParseFormat checks a format name given by a user.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatDocker, FormatOCI:
		return f, nil
	}
	return "", fmt.Errorf("unknown archive format %q (want docker or oci): %w", s, errdefs.ErrInvalidArgument)
}

// Names of the metadata files of the two formats.
const (
	dockerManifestFile = "manifest.json"
	repositoriesFile   = "repositories"
	ociLayoutFile      = "oci-layout"
	ociIndexFile       = "index.json"
)

// maxMetadata bounds manifest.json, index.json, oci-layout, repositories and
// every config or manifest read from an archive, as a pull bounds them.
const maxMetadata = manifest.MaxSize

// blobPath is where a blob lives in both formats: blobs/<alg>/<hex>.
func blobPath(alg, encoded string) string { return path.Join("blobs", alg, encoded) }

// cleanName turns a tar entry name or a path from manifest.json into the
// canonical relative path that names the file in the archive. Absolute
// paths and paths escaping the archive ("../x") are refused: a loader that
// extracts the archive would write outside its directory, and such names
// only appear in crafted archives.
func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, '\\') || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("archive path %q: %w", name, errdefs.ErrInvalidArgument)
	}
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("archive path %q escapes the archive: %w", name, errdefs.ErrInvalidArgument)
	}
	return p, nil
}
