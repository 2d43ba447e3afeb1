package archive

import (
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/compress"
)

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
// as k. For compress.None the uncompressed digest is the file's own sha256,
// which the caller has; the hasher then does nothing.
func newDiffHasher(k compress.Kind) *diffHasher {
	h := &diffHasher{done: make(chan struct{})}
	if k == compress.None {
		close(h.done)
		return h
	}
	pr, pw := io.Pipe()
	h.pw = pw
	go func() {
		defer close(h.done)
		h.sum, h.err = hashDecompressed(k, pr)
		// Keep reading until the writer is done: a decoder that gave up
		// must not block the copy feeding it.
		_, _ = io.Copy(io.Discard, pr)
	}()
	return h
}

// hashDecompressed returns the sha256 of r's stream decompressed. Archive
// layers are decompressed with the bounds unpack uses: a layer whose diffID
// is known here unpacks later.
func hashDecompressed(k compress.Kind, r io.Reader) (digest.Digest, error) {
	zr, err := compress.NewReader(r, k)
	if err != nil {
		return "", fmt.Errorf("layer: %w", err)
	}
	defer zr.Close()
	dg := digest.SHA256.Digester()
	if _, err := io.Copy(dg.Hash(), zr); err != nil {
		return "", fmt.Errorf("decompressing layer: %w", err)
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
