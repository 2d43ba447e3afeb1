package compress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/imagec/imagec/errdefs"
)

// MaxZstdWindow bounds the zstd window, and so the decoder's memory. The
// format allows windows of terabytes; real layers use at most 128 MiB
// (zstd --long=27), and a frame asking for more is refused with
// errdefs.ErrTooLarge.
const MaxZstdWindow = 128 << 20

// gzipBuffer is the read size of a gzip stream.
const gzipBuffer = 256 << 10

// Option configures NewReader.
type Option func(*options)

type options struct {
	limit int64
}

// WithLimit bounds the decompressed stream: reading past max bytes fails
// with errdefs.ErrTooLarge, so that a small blob cannot inflate without end
// (a decompression bomb). Default: no bound, for callers that bound what
// they read themselves (unpack counts with Limit). max <= 0 means no bound.
func WithLimit(max int64) Option {
	return func(o *options) { o.limit = max }
}

// NewReader returns the decompressed stream of r, compressed as k. Every
// caller gets the same decoders: gzip (multistream, as docker reads it) and
// zstd with one goroutine and a window of at most MaxZstdWindow, so the
// stream cannot choose how much memory or how many threads it gets.
//
// A malformed stream fails, when opened or while read, with
// errdefs.ErrInvalidArgument; a zstd window above the bound or a stream past
// WithLimit with errdefs.ErrTooLarge; Other and unknown kinds with
// errdefs.ErrUnsupported. Errors of r that already carry one of these
// categories, and context errors, keep theirs. Close releases the decoder;
// it does not close r.
func NewReader(r io.Reader, k Kind, opts ...Option) (io.ReadCloser, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var dec io.ReadCloser
	switch k {
	case None:
		if o.limit <= 0 {
			return io.NopCloser(r), nil
		}
		return readCloser{Limit(r, o.limit), func() error { return nil }}, nil
	case Gzip:
		// The inflater reads a byte at a time from an io.ByteReader, and
		// wraps anything else in a 4 KiB bufio.Reader: a system call per
		// 4 KiB of a layer file. Give it large reads instead.
		if _, ok := r.(io.ByteReader); !ok {
			r = bufio.NewReaderSize(r, gzipBuffer)
		}
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("open gzip stream: %w", classify(err))
		}
		dec = zr
	case Zstd:
		zr, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(MaxZstdWindow),
			zstd.WithDecoderMaxMemory(MaxZstdWindow),
		)
		if err != nil {
			return nil, fmt.Errorf("open zstd stream: %w", classify(err))
		}
		dec = zr.IOReadCloser()
	case Other:
		return nil, fmt.Errorf("compressed with %s: %w", Other, errdefs.ErrUnsupported)
	default:
		return nil, fmt.Errorf("compression %q: %w", k, errdefs.ErrUnsupported)
	}
	var out io.Reader = decoded{kind: k, r: dec}
	if o.limit > 0 {
		out = Limit(out, o.limit)
	}
	return readCloser{out, dec.Close}, nil
}

// NewMediaTypeReader is NewReader for the compression a layer media type
// names (see ForMediaType).
func NewMediaTypeReader(r io.Reader, mediaType string, opts ...Option) (io.ReadCloser, error) {
	k, err := ForMediaType(mediaType)
	if err != nil {
		return nil, err
	}
	return NewReader(r, k, opts...)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (rc readCloser) Close() error { return rc.close() }

// decoded categorizes the errors of a decoder's stream.
type decoded struct {
	kind Kind
	r    io.Reader
}

func (d decoded) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s stream: %w", d.kind, classify(err))
	}
	return n, err
}

// classify gives a decoding error its category: bounds and cancellation keep
// their meaning, an oversized zstd window is ErrTooLarge, anything else
// means the stream is malformed.
func classify(err error) error {
	switch {
	case errors.Is(err, errdefs.ErrTooLarge), errors.Is(err, errdefs.ErrInvalidArgument),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return fmt.Errorf("zstd frame needs a window above %d MiB: %w: %w", MaxZstdWindow>>20, err, errdefs.ErrTooLarge)
	}
	return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
}

// Limited reads a stream of at most a bound, counting what it read. It is
// the inflate bound of WithLimit, for callers that also need the count.
type Limited struct {
	r      io.Reader
	n, max int64
}

// Limit returns a reader of r that fails with errdefs.ErrTooLarge once more
// than max bytes were read.
func Limit(r io.Reader, max int64) *Limited {
	return &Limited{r: r, max: max}
}

func (l *Limited) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, l.tooLarge()
	}
	// Read at most one byte past the bound: enough to know it was exceeded.
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

// N returns how many bytes were read.
func (l *Limited) N() int64 { return l.n }

func (l *Limited) tooLarge() error {
	return fmt.Errorf("uncompressed content exceeds %d bytes: %w", l.max, errdefs.ErrTooLarge)
}
