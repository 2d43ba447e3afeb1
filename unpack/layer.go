package unpack

import (
	"context"
	_ "crypto/sha256" // digest algorithms diffIDs use
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// zstdMaxWindow bounds the zstd window (and so the decoder's memory). The
// format allows windows of terabytes; real layers use at most 128 MiB
// (zstd --long=27), and anything larger is refused with errdefs.ErrTooLarge.
const zstdMaxWindow = 128 << 20

// Layer extracts a layer blob onto root. mediaType selects the
// decompression (see manifest.LayerCompression). The uncompressed stream is
// hashed while it is extracted, in one pass and without temporary files, and
// read to its end; if it does not hash to diffID the error wraps
// errdefs.ErrDigestMismatch. On any error the root may hold part of the
// layer: extract into a temporary directory and remove it on error.
func Layer(ctx context.Context, root string, blob io.Reader, mediaType string, diffID digest.Digest, opts Options) (Stats, error) {
	st, err := layer(ctx, root, blob, mediaType, diffID, opts)
	if err != nil {
		return st, fmt.Errorf("unpack layer %s into %s: %w", diffID, root, err)
	}
	return st, nil
}

func layer(ctx context.Context, root string, blob io.Reader, mediaType string, diffID digest.Digest, opts Options) (Stats, error) {
	if err := diffID.Validate(); err != nil {
		return Stats{}, fmt.Errorf("diffID: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	compression, err := manifest.LayerCompression(mediaType)
	if err != nil {
		return Stats{}, err
	}
	r, err := decompress(blob, compression)
	if err != nil {
		return Stats{}, err
	}
	defer r.Close()
	h := diffID.Algorithm().Hash()
	verify := func() error {
		if got := digest.NewDigest(diffID.Algorithm(), h); got != diffID {
			return fmt.Errorf("uncompressed content is %s: %w", got, errdefs.ErrDigestMismatch)
		}
		return nil
	}
	ra := newReadahead(io.TeeReader(r, h), 4, 1<<20)
	defer ra.Close()
	return extract(ctx, root, ra, opts, verify)
}

func decompress(blob io.Reader, compression string) (io.ReadCloser, error) {
	switch compression {
	case "gzip":
		zr, err := gzip.NewReader(blob)
		if err != nil {
			return nil, fmt.Errorf("open gzip stream: %w", readErr(err))
		}
		return zr, nil
	case "zstd":
		// One goroutine and a bounded window: a layer must not be able to
		// make us allocate what its frame header asks for.
		zr, err := zstd.NewReader(blob,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxWindow),
		)
		if err != nil {
			return nil, fmt.Errorf("open zstd stream: %w", readErr(err))
		}
		return zr.IOReadCloser(), nil
	case "":
		return io.NopCloser(blob), nil
	}
	return nil, fmt.Errorf("compression %q: %w", compression, errdefs.ErrUnsupported)
}

// limitReader fails with errdefs.ErrTooLarge once more than max bytes have
// been read, and counts what was read.
type limitReader struct {
	r      io.Reader
	n, max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, l.tooLarge()
	}
	// Read at most one byte past the limit: enough to know it was exceeded.
	if room := l.max - l.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, l.tooLarge()
	}
	return n, err
}

func (l *limitReader) tooLarge() error {
	return fmt.Errorf("uncompressed layer exceeds %d bytes: %w", l.max, errdefs.ErrTooLarge)
}

// readErr categorizes an error from reading the (decompressed) stream:
// bounds and cancellation keep their meaning, oversized zstd windows are
// ErrTooLarge, anything else means the layer is malformed.
func readErr(err error) error {
	switch {
	case errors.Is(err, errdefs.ErrTooLarge), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return fmt.Errorf("zstd frame needs a window above %d MiB: %w: %w", zstdMaxWindow>>20, err, errdefs.ErrTooLarge)
	}
	return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
}
