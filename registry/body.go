package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
)

// watchedBody fails a read that makes no progress for the stall timeout. The
// clock runs only while a Read is in progress, so a slow consumer is never
// mistaken for a stalled registry. Until streaming is called it also holds
// the whole exchange to the small-body deadline, which a registry trickling
// one byte at a time cannot stretch.
type watchedBody struct {
	body   io.ReadCloser
	timer  *time.Timer // cancels the request when it fires
	stall  time.Duration
	fired  *atomic.Bool
	cancel context.CancelFunc
	host   string

	deadline *time.Timer // cancels the request when the exchange overruns
	limit    time.Duration
	late     *atomic.Bool
}

func (w *watchedBody) Read(p []byte) (int, error) {
	if err := w.timedOut(); err != nil {
		return 0, err
	}
	w.timer.Reset(w.stall)
	n, err := w.body.Read(p)
	w.timer.Stop()
	switch {
	case err == nil || err == io.EOF:
		return n, err
	case w.timedOut() != nil:
		return n, w.timedOut()
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// The caller's context ended; that is not the registry's fault.
		return n, err
	default:
		return n, fmt.Errorf("reading response from %s: %w: %w", w.host, err, errdefs.ErrUnavailable)
	}
}

// timedOut is the error of a body whose stall timer or deadline fired.
func (w *watchedBody) timedOut() error {
	switch {
	case w.late.Load():
		return fmt.Errorf("reading response from %s: not complete within %s: %w", w.host, w.limit, errdefs.ErrUnavailable)
	case w.fired.Load():
		return fmt.Errorf("reading response from %s: stalled, no data for %s: %w", w.host, w.stall, errdefs.ErrUnavailable)
	}
	return nil
}

// streaming lifts the deadline: the body is a blob's content, which may take
// as long as it needs while it keeps moving. A deadline that already fired
// stays in force.
func (w *watchedBody) streaming() { w.deadline.Stop() }

func (w *watchedBody) Close() error {
	w.timer.Stop()
	w.deadline.Stop()
	err := w.body.Close()
	w.cancel()
	return err
}

// blobBody holds a blob download to exactly the bytes its descriptor
// promises: more is a size mismatch, a clean end before is a truncation the
// caller may resume from.
type blobBody struct {
	body      io.ReadCloser
	digest    digest.Digest
	pos       int64 // offset in the blob of the next byte
	remaining int64
	err       error // sticky
}

func (b *blobBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.remaining == 0 {
		// Everything promised has arrived; one more byte means the
		// registry is serving something else.
		n, err := b.body.Read(p[:1])
		switch {
		case n > 0:
			b.err = fmt.Errorf("blob %s: registry sent more than the %d bytes its descriptor states: %w", b.digest, b.pos, errdefs.ErrSizeMismatch)
			return 0, b.err
		case err == io.EOF:
			return 0, io.EOF
		case err != nil:
			return 0, b.fail(err)
		}
		return 0, nil
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.body.Read(p)
	b.pos += int64(n)
	b.remaining -= int64(n)
	switch {
	case err == io.EOF && b.remaining > 0:
		b.err = fmt.Errorf("blob %s: body ended at offset %d, %d bytes short: %w: %w",
			b.digest, b.pos, b.remaining, io.ErrUnexpectedEOF, errdefs.ErrUnavailable)
		return n, b.err
	case err != nil && err != io.EOF:
		return n, b.fail(err)
	}
	return n, err
}

func (b *blobBody) fail(err error) error {
	b.err = fmt.Errorf("blob %s at offset %d: %w", b.digest, b.pos, err)
	return b.err
}

func (b *blobBody) Close() error { return b.body.Close() }

// readBounded reads all of r, failing with errdefs.ErrTooLarge beyond limit.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("body exceeds %d bytes: %w", limit, errdefs.ErrTooLarge)
	}
	return data, nil
}

// discard drains a little of a body we don't need so the connection can be
// reused, then closes it.
func discard(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	body.Close()
}
