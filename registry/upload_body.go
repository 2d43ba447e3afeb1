package registry

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/imagec/imagec/errdefs"
)

// payload is the n bytes of the blob from the session's offset, read from
// the upload's source each time the request body is (re)opened. A failure
// of the source is kept in fail, so the upload can tell it from the
// network's: a retry would not fix it.
func (u *upload) payload(ctx context.Context, n int64, fail *sourceFailure) *payload {
	start := u.offset
	return &payload{size: n, large: true, open: func() (io.ReadCloser, error) {
		rc, err := u.src(ctx, start)
		if err != nil {
			return nil, fail.set(fmt.Errorf("opening blob %s at offset %d to upload it: %w", u.desc.Digest, start, err))
		}
		return &sourceBody{rc: rc, u: u, pos: start, left: n, fail: fail}, nil
	}}
}

// report tells OnUploadProgress how far the upload got. The transport may
// still be reading one request's body while the next request starts, hence
// the lock.
func (u *upload) report(offset int64) {
	if u.o.progress == nil {
		return
	}
	u.progressMu.Lock()
	defer u.progressMu.Unlock()
	u.o.progress(offset)
}

// sourceFailure is the first failure of an upload request's source. The
// transport reads the body in its own goroutine, hence the lock.
type sourceFailure struct {
	mu  sync.Mutex
	err error
}

func (f *sourceFailure) set(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
	return f.err
}

func (f *sourceFailure) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// sourceBody is one request's share of the blob: left bytes from pos.
type sourceBody struct {
	rc   io.ReadCloser
	u    *upload
	pos  int64
	left int64
	fail *sourceFailure
}

func (b *sourceBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.pos += int64(n)
	b.left -= int64(n)
	if n > 0 {
		b.u.report(b.pos)
	}
	switch {
	case err == io.EOF && b.left > 0:
		return n, b.fail.set(fmt.Errorf("blob %s: its source ended at offset %d, short of its size %d: %w",
			b.u.desc.Digest, b.pos, b.u.desc.Size, errdefs.ErrSizeMismatch))
	case err != nil && err != io.EOF:
		return n, b.fail.set(fmt.Errorf("reading blob %s at offset %d to upload it: %w", b.u.desc.Digest, b.pos, err))
	}
	return n, err
}

func (b *sourceBody) Close() error { return b.rc.Close() }
