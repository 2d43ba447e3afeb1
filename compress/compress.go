// Package compress opens the compressed streams imagec reads (layer blobs,
// layer files of archives, whole archives) with one set of bounds, whoever
// reads them: the compression a layer media type names, detection from a
// stream's first bytes, and decoders whose memory a hostile stream cannot
// choose.
//
// It imports only the standard library, klauspost/compress and errdefs, so
// that manifest validation and every reader can share it.
package compress

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/imagec/imagec/errdefs"
)

// Kind is a compression.
type Kind string

const (
	// None is an uncompressed stream.
	None Kind = "none"
	Gzip Kind = "gzip"
	Zstd Kind = "zstd"
	// Other is bzip2 or xz: docker load takes them, imagec refuses them
	// (errdefs.ErrUnsupported). Detect recognizes them so that the refusal
	// says why instead of failing later as a malformed tar.
	Other Kind = "bzip2 or xz"
)

// HeaderLen is how many leading bytes Detect needs.
const HeaderLen = 6

// Detect returns the compression a stream's first bytes (at least HeaderLen
// of them, fewer for a shorter stream) show. Anything unrecognized is None.
func Detect(head []byte) Kind {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return Gzip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case bytes.HasPrefix(head, []byte("BZh")), bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return Other
	}
	return None
}

// peekBuffer is Peek's read buffer: archives are read in large sequential
// chunks from a pipe or a file.
const peekBuffer = 64 << 10

// Peek detects the compression of r's stream without consuming it: the
// returned reader yields every byte of r (a read error while peeking is
// returned by its reads). It buffers 64 KiB.
func Peek(r io.Reader) (io.Reader, Kind) {
	br := bufio.NewReaderSize(r, peekBuffer)
	head, _ := br.Peek(HeaderLen)
	return br, Detect(head)
}

// layerTypes maps every layer media type imagec can unpack to its
// compression. Besides the OCI and Docker types in the specs it includes the
// uncompressed and zstd Docker spellings that containerd and buildkit
// produce, and the OCI non-distributable spellings, whose ocispec constants
// are deprecated. The strings are written out so that this package needs no
// spec module; manifest's tests check them against the spec constants.
var layerTypes = map[string]Kind{
	"application/vnd.oci.image.layer.v1.tar":                       None,
	"application/vnd.oci.image.layer.v1.tar+gzip":                  Gzip,
	"application/vnd.oci.image.layer.v1.tar+zstd":                  Zstd,
	"application/vnd.oci.image.layer.nondistributable.v1.tar":      None,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": Gzip,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": Zstd,
	"application/vnd.docker.image.rootfs.diff.tar.gzip":            Gzip,
	"application/vnd.docker.image.rootfs.diff.tar":                 None,
	"application/vnd.docker.image.rootfs.diff.tar.zstd":            Zstd,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":    Gzip,
	"application/vnd.docker.image.rootfs.foreign.diff.tar":         None,
}

// ForMediaType returns the compression of a layer media type. Anything that
// is not a known layer type (encrypted layers, artifacts, configs) is
// errdefs.ErrUnsupported: this is also what makes a media type a layer an
// unpacker can handle.
func ForMediaType(mediaType string) (Kind, error) {
	k, ok := layerTypes[mediaType]
	if !ok {
		return "", fmt.Errorf("layer media type %q: %w", mediaType, errdefs.ErrUnsupported)
	}
	return k, nil
}
