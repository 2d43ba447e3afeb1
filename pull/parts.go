package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/transfer"
)

// Multipart fetch: a large blob comes as concurrent Range requests, which
// beats one connection where each connection's bandwidth is capped (CDNs,
// object stores). The bytes still reach the store in order, hashed once as
// they are written: the first part streams straight into the ingest
// writer, the parts after it wait in memory until their turn. A pull holds
// at most Parts-1 parts in memory across all its blobs, so the memory it
// takes for them is bounded by (Parts-1) x PartSize whatever the number
// and size of its blobs. What a kill leaves on disk is the prefix written
// so far, from which the next pull resumes.
const (
	// DefaultParts is how many connections one blob may use at once, and
	// DefaultPartSize the size of one part. Over a link that caps each
	// connection at 20 MB/s with a 20 ms round trip (make bench-shaped), a
	// 63 MB layer took 3.30 s in one stream; 1.38 s in 4 parts of 4 MiB,
	// 0.94 s in 6 and 0.72 s in 8; 0.81 s in 8 parts of 3 MiB, and no less
	// in 10 (the scheduler's 8 connections to a host are the limit). 8 of
	// 3 MiB holds 21 MiB, and a pull stays under 40 MiB of memory; 8 of
	// 4 MiB does not.
	DefaultParts    = 8
	DefaultPartSize = 3 << 20
	// DefaultPartThreshold is the smallest remainder fetched in parts:
	// below it the extra requests cost more than they gain.
	DefaultPartThreshold = 16 << 20
	// DefaultSplitRate decides, unless parts were asked for, whether a
	// large blob is split: its first part comes alone, timed from the
	// answer, and the rest comes as one stream if that part arrived at
	// this rate or faster (itself timed, and split where it slows). On this project's loopback registry one stream brings a
	// 927 MB image in 1.1 s and eight parts in 1.8 s (the copies and
	// requests cost CPU the link does not need); on the shaped link the
	// first part arrives at under 20 MB/s and splitting wins fourfold.
	DefaultSplitRate = 100e6
)

// partPool is a pull's buffers for the parts it holds in memory, shared by
// its blobs: at most max of DefaultPartSize, made as they are first needed
// and reused after, so that the memory stays bounded and the collector has
// nothing to chase. Taking a buffer is what admits a part.
type partPool struct {
	free chan []byte
	mu   sync.Mutex
	made int
}

func newPartPool(max int) *partPool { return &partPool{free: make(chan []byte, max)} }

func (p *partPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	p.mu.Lock()
	if p.made < cap(p.free) {
		p.made++
		p.mu.Unlock()
		return make([]byte, DefaultPartSize), nil
	}
	p.mu.Unlock()
	select {
	case b := <-p.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives a buffer back; it never blocks (free holds every buffer made).
func (p *partPool) put(b []byte) { p.free <- b[:cap(b)] }

// transferParts fetches the rest of desc (from w's offset) in parts. It
// reports handled false, having written nothing, when the blob is too small
// for parts or the server does not serve ranges: the caller then streams it
// whole. opened says whether a request was answered (as for transfer).
func (j *job) transferParts(ctx context.Context, dl *registry.Download, desc ocispec.Descriptor, id string, w content.Writer, emit func(progress.Event)) (handled, opened bool, err error) {
	parts, forced := j.parts()
	size := int64(DefaultPartSize)
	start := w.Offset()
	if parts <= 1 || desc.Size-start < j.p.partThreshold {
		return false, false, nil
	}
	release, err := j.p.sched.Slot(ctx)
	if err != nil {
		return true, false, err
	}
	defer release()
	conn, err := j.p.sched.Conn(ctx)
	if err != nil {
		return true, false, err
	}
	first, whole, err := dl.Part(ctx, start, min(start+size, desc.Size)-1)
	switch {
	case errors.Is(err, registry.ErrNoRanges):
		conn()
		return false, false, nil
	case err != nil:
		conn()
		return true, false, err
	}
	// Timed from the answer: the server's time to the first byte (a cold
	// cache, a retry's backoff) says nothing of the link.
	answered := time.Now()
	meter := transfer.NewMeter(emit, progress.Downloading, id, start, desc.Size)
	if !whole && !forced {
		// The first part alone, timed: a link on which
		// one stream is fast gets the rest as one stream, watched in case
		// it slows; a slow one the rest in parts.
		probe := &fetch{j: j, dl: dl, desc: desc, size: size, start: start, n: 1}
		err := probe.head(ctx, first, conn, meter.Writer(w))
		meter.Flush()
		if err != nil {
			return true, true, err
		}
		if desc.Size-w.Offset() <= size {
			return false, true, nil
		}
		if float64(size)/time.Since(answered).Seconds() >= j.p.splitRate {
			slowed, err := j.streamWatched(ctx, dl, desc, meter.Writer(w), w.Offset())
			meter.Flush()
			if err != nil || !slowed {
				return true, true, err
			}
		}
		start = w.Offset()
		if conn, err = j.p.sched.Conn(ctx); err != nil {
			return true, true, err
		}
		// From here Part never answers whole: it refuses a whole blob
		// sent for a range that does not start at 0 (ErrNoRanges).
		if first, _, err = dl.Part(ctx, start, min(start+size, desc.Size)-1); err != nil {
			conn()
			return true, true, err
		}
	}
	if whole {
		// Range ignored: this is the whole blob, from its first byte (Part
		// answers whole only for a range from 0, so nothing was written).
		defer conn()
		defer first.Close()
		bufp := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(bufp)
		_, err := io.CopyBuffer(meter.Writer(w), first, *bufp)
		meter.Flush()
		return true, true, err
	}
	dl.Concurrently(parts - 1)
	f := &fetch{j: j, dl: dl, desc: desc, size: size, start: start, n: int((desc.Size - start + size - 1) / size)}
	err = f.run(ctx, first, conn, meter.Writer(w), parts)
	meter.Flush()
	return true, true, err
}

// watchWindow is how many bytes of a stream are timed at a time to tell
// whether the link has slowed (see streamWatched).
const watchWindow = 8 << 20

// streamWatched streams desc from start to its end into w as one request,
// timing each watchWindow bytes: a window slower than the split rate, with
// more than a part left, ends the stream there (slowed true, w written up
// to where it stopped), so the rest comes in parts. A link can be fast for
// its first part and slow after it (a burst, then a cap).
func (j *job) streamWatched(ctx context.Context, dl *registry.Download, desc ocispec.Descriptor, w io.Writer, start int64) (slowed bool, err error) {
	conn, err := j.p.sched.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn()
	body, _, err := dl.Part(ctx, start, desc.Size-1) // never whole: start > 0
	if err != nil {
		return false, err
	}
	defer body.Close()
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	buf := *bufp
	off, windowStart, windowAt := start, start, time.Now()
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return false, err
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			dl.PartDone()
			return false, nil
		}
		if rerr != nil {
			return false, rerr
		}
		if off-windowStart >= watchWindow {
			rate := float64(off-windowStart) / time.Since(windowAt).Seconds()
			if rate < j.p.splitRate && desc.Size-off > DefaultPartSize {
				return true, nil
			}
			windowStart, windowAt = off, time.Now()
		}
	}
}

// fetch is one blob's multipart fetch: n parts of size bytes from start.
type fetch struct {
	j           *job
	dl          *registry.Download
	desc        ocispec.Descriptor
	size, start int64
	n           int
}

func (f *fetch) bounds(k int) (int64, int64) {
	s := f.start + int64(k)*f.size
	return s, min(s+f.size, f.desc.Size) - 1
}

// run writes part 0 from first as it arrives and parts 1..n-1, fetched by
// up to parts-1 goroutines, in order after it.
func (f *fetch) run(ctx context.Context, first io.ReadCloser, conn func(), w io.Writer, parts int) error {
	g, gctx := errgroup.WithContext(ctx)
	ready := make([]chan []byte, f.n)
	for k := range ready {
		ready[k] = make(chan []byte, 1)
	}
	// The pull's parts in memory at once, shared with its other blobs; a
	// blob that fails gives back what it held.
	pool := f.j.partPool(parts)
	defer func() {
		for _, ch := range ready {
			select {
			case buf := <-ch:
				pool.put(buf)
			default:
			}
		}
	}()
	next := make(chan int, f.n)
	for k := 1; k < f.n; k++ {
		next <- k
	}
	close(next)
	for range min(parts-1, f.n-1) {
		g.Go(func() error {
			for {
				// The buffer comes before the part number, so the parts
				// in memory are always the lowest not written.
				buf, err := pool.get(gctx)
				if err != nil {
					return err
				}
				k, ok := <-next
				if !ok {
					pool.put(buf)
					return nil
				}
				if err := f.part(gctx, k, buf); err != nil {
					pool.put(buf)
					return err
				}
				ready[k] <- buf
			}
		})
	}
	g.Go(func() error {
		err := f.head(gctx, first, conn, w)
		for k := 1; k < f.n && err == nil; k++ {
			select {
			case buf := <-ready[k]:
				s, e := f.bounds(k)
				_, err = w.Write(buf[:e-s+1])
				pool.put(buf)
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return err
	})
	return g.Wait()
}

// head streams part 0 into w from first (holding the connection conn
// releases), asking again for what is left after a body that breaks off,
// so the parts already in memory are not lost.
func (f *fetch) head(ctx context.Context, first io.ReadCloser, conn func(), w io.Writer) error {
	s, e := f.bounds(0)
	body, written := first, int64(0)
	for {
		n, err := io.Copy(w, body)
		body.Close()
		conn()
		written += n
		if err == nil {
			f.dl.PartDone()
			return nil
		}
		if errors.Is(err, errdefs.ErrDiskFull) || !errdefs.IsRetryable(err) {
			return err
		}
		if rerr := f.dl.Retry(ctx, err); rerr != nil {
			return rerr
		}
		if conn, err = f.j.p.sched.Conn(ctx); err != nil {
			return err
		}
		if body, _, err = f.dl.Part(ctx, s+written, e); err != nil {
			conn()
			return err
		}
	}
}

// part fetches part k whole into buf, asking again for what is left after
// a body that breaks off midway, under the download's one budget.
func (f *fetch) part(ctx context.Context, k int, buf []byte) error {
	s, e := f.bounds(k)
	buf = buf[:e-s+1]
	got := 0
	for {
		release, err := f.j.p.sched.Conn(ctx)
		if err != nil {
			return err
		}
		var body io.ReadCloser
		body, _, err = f.dl.Part(ctx, s+int64(got), e)
		if err == nil {
			var n int
			n, err = io.ReadFull(body, buf[got:])
			got += n
			body.Close()
		}
		release()
		if err == nil {
			f.dl.PartDone()
			return nil
		}
		if errors.Is(err, registry.ErrNoRanges) {
			// It served the first part as a range: a later refusal is the
			// server's inconsistency, not a reason to fetch it all again.
			return fmt.Errorf("part %d of blob %s: %w", k, f.desc.Digest, err)
		}
		if rerr := f.dl.Retry(ctx, err); rerr != nil {
			return rerr
		}
	}
}

// partPool is the pull's buffers for parts: parts-1 for the first blob
// that asks, shared by the others.
func (j *job) partPool(parts int) *partPool {
	j.partOnce.Do(func() { j.partBufs = newPartPool(parts - 1) })
	return j.partBufs
}

// parts is how many connections a large blob of this pull may use, and
// whether that many were asked for (else a blob is split only over a slow
// link: see DefaultSplitRate).
func (j *job) parts() (int, bool) {
	if j.p.partsFor != nil {
		if n := j.p.partsFor(j.ref.Domain()); n > 0 {
			return n, true
		}
	}
	return j.p.parts, j.p.partsSet
}
