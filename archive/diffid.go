package archive

import (
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
)

// Compressions a layer file of an archive can have. Docker-archive layer
// files carry no media type, so the compression is read from their first
// bytes, as docker load does.
const (
	compressionNone  = ""
	compressionGzip  = "gzip"
	compressionZstd  = "zstd"
	compressionOther = "other" // bzip2 or xz: docker load takes them, imagec does not
)

// magicLen is how many leading bytes detectCompression needs.
const magicLen = 6

func detectCompression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return compressionGzip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return compressionZstd
	case bytes.HasPrefix(head, []byte("BZh")), bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return compressionOther
	}
	return compressionNone
}

// zstdMaxWindow bounds the memory a zstd frame may ask the decoder for.
// Layers compressed with long-distance matching (zstd --long=27) use 128 MiB.
const zstdMaxWindow = 128 << 20

// diffHasher computes the digest of a file's uncompressed content (for a
// layer, its diffID) while the file streams past, so each archive entry is
// read once. Decompression runs in its own goroutine fed through a pipe:
// it overlaps with hashing and writing the compressed bytes.
type diffHasher struct {
	pw   *io.PipeWriter
	done chan struct{}
	sum  digest.Digest
	err  error
}

// newDiffHasher starts hashing the decompressed form of a stream compressed
// with compression. For compressionNone the uncompressed digest is the
// file's own sha256, which the caller has; the hasher then does nothing.
func newDiffHasher(compression string) *diffHasher {
	h := &diffHasher{done: make(chan struct{})}
	switch compression {
	case compressionNone:
		close(h.done)
		return h
	case compressionOther:
		h.err = fmt.Errorf("layer compressed with bzip2 or xz: %w", errdefs.ErrUnsupported)
		close(h.done)
		return h
	}
	pr, pw := io.Pipe()
	h.pw = pw
	go func() {
		defer close(h.done)
		h.sum, h.err = hashDecompressed(compression, pr)
		// Keep reading until the writer is done: a decoder that gave up
		// must not block the copy feeding it.
		_, _ = io.Copy(io.Discard, pr)
	}()
	return h
}

func hashDecompressed(compression string, r io.Reader) (digest.Digest, error) {
	var dec io.Reader
	switch compression {
	case compressionGzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return "", fmt.Errorf("gzip layer: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		defer zr.Close()
		dec = zr
	case compressionZstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return "", fmt.Errorf("zstd layer: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		defer zr.Close()
		dec = zr
	default:
		return "", fmt.Errorf("compression %q: %w", compression, errdefs.ErrUnsupported)
	}
	dg := digest.SHA256.Digester()
	if _, err := io.Copy(dg.Hash(), dec); err != nil {
		return "", fmt.Errorf("decompressing %s layer: %v: %w", compression, err, errdefs.ErrInvalidArgument)
	}
	return dg.Digest(), nil
}

// Write feeds the decompressor. It never fails: a stream that does not
// decompress is reported by finish, and only matters if the file turns out
// to be a layer.
func (h *diffHasher) Write(p []byte) (int, error) {
	if h.pw != nil {
		_, _ = h.pw.Write(p)
	}
	return len(p), nil
}

// finish ends the stream and returns the uncompressed digest ("" for an
// uncompressed file) or why it could not be computed. It must be called
// once, also when the copy failed, to end the goroutine.
func (h *diffHasher) finish() (digest.Digest, error) {
	if h.pw != nil {
		h.pw.Close()
	}
	<-h.done
	return h.sum, h.err
}
