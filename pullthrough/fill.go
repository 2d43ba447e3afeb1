package pullthrough

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
)

// errVoid ends a reader whose bytes no longer hold: the fetch started the
// blob over (a resume the registry ignored, data that failed
// verification), so what the reader sent may not be the blob's.
var errVoid = fmt.Errorf("the fetch started the blob over after bytes were sent: %w", errdefs.ErrUnavailable)

// fill is one blob being fetched into the store, read by any number of
// clients while it is written. Readers read the ingest writer's data
// (content/local's writer is an io.ReaderAt) up to what it holds, less
// the last byte, which only the commit releases; once committed they read
// the stored blob.
type fill struct {
	store content.Provider
	desc  ocispec.Descriptor

	// rw is held shared while a reader reads the writer's data, and
	// exclusively while the writer moves it (Reset, Commit, Close).
	rw sync.RWMutex

	mu        sync.Mutex
	cond      *sync.Cond
	ra        io.ReaderAt // the writer's data, while readable
	written   int64       // bytes ra holds
	gen       int         // bumped whenever the data starts over
	committed bool
	done      bool
	err       error
}

func newFill(st content.Provider, desc ocispec.Descriptor) *fill {
	f := &fill{store: st, desc: desc}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// wrap is pull.WithIngestWriter's hook: it makes the writer's data
// readable, from what an interrupted fetch left (its Offset) on.
func (f *fill) wrap(w content.Writer) content.Writer {
	ra, _ := w.(io.ReaderAt) // without it, readers wait for the commit
	f.mu.Lock()
	f.ra, f.written = ra, w.Offset()
	f.gen++
	f.cond.Broadcast()
	f.mu.Unlock()
	return &teeWriter{Writer: w, f: f}
}

// finish ends the fill with the fetch's outcome.
func (f *fill) finish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done, f.err = true, err
	f.committed = f.committed || err == nil
	f.ra = nil
	f.cond.Broadcast()
}

// ended reports whether the fetch is over.
func (f *fill) ended() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

// teeWriter tells the fill what its writer does.
type teeWriter struct {
	content.Writer
	f *fill
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.Writer.Write(p)
	if n > 0 {
		t.f.mu.Lock()
		t.f.written += int64(n)
		t.f.cond.Broadcast()
		t.f.mu.Unlock()
	}
	return n, err
}

func (t *teeWriter) Reset() error {
	t.f.rw.Lock()
	defer t.f.rw.Unlock()
	err := t.Writer.Reset()
	t.startedOver()
	return err
}

// Commit verifies the blob. A failed commit may have discarded the data
// (a mismatch does), so the data counts as started over.
func (t *teeWriter) Commit(ctx context.Context) error {
	t.f.rw.Lock()
	defer t.f.rw.Unlock()
	err := t.Writer.Commit(ctx)
	if err != nil {
		t.startedOver()
		return err
	}
	t.f.mu.Lock()
	t.f.committed, t.f.ra = true, nil
	t.f.cond.Broadcast()
	t.f.mu.Unlock()
	return nil
}

func (t *teeWriter) Close() error {
	t.f.rw.Lock()
	defer t.f.rw.Unlock()
	t.f.mu.Lock()
	t.f.ra = nil
	t.f.mu.Unlock()
	return t.Writer.Close()
}

func (t *teeWriter) startedOver() {
	t.f.mu.Lock()
	t.f.written = t.Writer.Offset()
	t.f.gen++
	t.f.cond.Broadcast()
	t.f.mu.Unlock()
}

// reader is one client's read of a fill (server.Arriving).
type reader struct {
	f    *fill
	gen  int  // the data generation the reader's bytes came from
	sent bool // whether it returned any byte
	blob content.Reader
}

// ReadAt reads from off, waiting for bytes; see server.Arriving.
func (r *reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	for {
		if r.blob != nil {
			return r.blob.ReadAt(p, off)
		}
		limit, committed, err := r.wait(ctx, off)
		if err != nil {
			return 0, err
		}
		if committed {
			if r.blob, err = r.f.store.Open(ctx, r.f.desc.Digest); err != nil {
				return 0, err
			}
			continue
		}
		n, err := r.readData(p[:min(int64(len(p)), limit-off)], off)
		if n > 0 || err != nil {
			r.sent = r.sent || n > 0
			return n, err
		}
	}
}

// wait blocks until bytes past off may be read from the writer's data (up
// to limit), or the blob is committed, or the reader must end.
func (r *reader) wait(ctx context.Context, off int64) (limit int64, committed bool, err error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	for {
		switch {
		case r.sent && f.gen != r.gen:
			return 0, false, errVoid
		case f.committed:
			return 0, true, nil
		case f.done:
			return 0, false, cmp.Or(f.err, errVoid)
		case ctx.Err() != nil:
			return 0, false, ctx.Err()
		}
		r.gen = f.gen
		// The last byte waits for the commit: a reader that has every
		// byte but it has nothing it could take for the blob.
		limit = min(f.written, f.desc.Size-1)
		if f.ra != nil && limit > off {
			return limit, false, nil
		}
		f.cond.Wait()
	}
}

// readData reads p at off from the writer's data, unless it moved since
// wait (then 0, nil: wait again).
func (r *reader) readData(p []byte, off int64) (int, error) {
	f := r.f
	f.rw.RLock()
	defer f.rw.RUnlock()
	f.mu.Lock()
	ra, ok := f.ra, f.ra != nil && f.gen == r.gen && off+int64(len(p)) <= f.written
	f.mu.Unlock()
	if !ok {
		return 0, nil
	}
	n, err := ra.ReadAt(p, off)
	if errors.Is(err, io.EOF) && n == len(p) {
		err = nil
	}
	return n, err
}

func (r *reader) Close() error {
	if r.blob != nil {
		return r.blob.Close()
	}
	return nil
}
