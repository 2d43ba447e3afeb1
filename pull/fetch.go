package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/transfer"
)

type counter struct{ n atomic.Int64 }

func (c *counter) add()        { c.n.Add(1) }
func (c *counter) load() int64 { return c.n.Load() }

// fetchLayers downloads the layers not yet in the store, at most
// p.parallel at once across the whole Puller, earliest layer first. With
// a layer hook (WithLayerHook), each layer is handed to it in order as soon
// as it and the ones below it are in the store, while later layers still
// download.
func (j *job) fetchLayers(ctx context.Context, layers []ocispec.Descriptor, diffIDs []digest.Digest) error {
	g, gctx := errgroup.WithContext(ctx)
	ready := make(map[digest.Digest]chan struct{}, len(layers))
	for _, l := range layers {
		id := progress.ShortID(l.Digest.String())
		if ready[l.Digest] != nil {
			continue
		}
		ch := make(chan struct{})
		ready[l.Digest] = ch
		if manifest.IsForeign(l.MediaType) && !j.opts.includeForeign {
			close(ch)
			continue
		}
		if j.p.store.Has(ctx, l) {
			j.emit(progress.Event{ID: id, Action: progress.AlreadyExists})
			close(ch)
			continue
		}
		j.emit(progress.Event{ID: id, Action: progress.PullingFSLayer})
		g.Go(func() error {
			if err := j.fetchBlob(gctx, l, id, j.emit); err != nil {
				j.emit(progress.Event{ID: id, Action: progress.Failed, Err: err})
				return fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			close(ch)
			j.emit(progress.Event{ID: id, Action: progress.PullComplete})
			return nil
		})
	}
	if hook := j.opts.layerHook; hook != nil {
		g.Go(func() error {
			for i, l := range layers {
				select {
				case <-ready[l.Digest]:
				case <-gctx.Done():
					return gctx.Err()
				}
				if err := hook(gctx, i, l, diffIDs[i]); err != nil {
					return fmt.Errorf("layer %s: %w", l.Digest, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// fetchBlob brings one blob into the store, with opts for its downloads. If
// another pull of this Puller's scheduler is already fetching it, it waits
// for that one instead.
func (j *job) fetchBlob(ctx context.Context, desc ocispec.Descriptor, id string, emit func(progress.Event), opts ...registry.DownloadOption) error {
	shared, err := j.p.sched.Once(ctx, desc.Digest, intoStore,
		func() { emit(progress.Event{ID: id, Action: progress.Waiting}) },
		func(ctx context.Context) error { return j.download(ctx, desc, id, emit, opts) })
	if shared && err == nil {
		emit(progress.Event{ID: id, Action: progress.DownloadComplete})
	}
	return err
}

// intoStore names the direction of a pull's transfers to the scheduler.
const intoStore = "pull"

// download runs the transfer of one blob into an ingest writer, retrying a
// body that fails midway from the offset already written, and commits it.
func (j *job) download(ctx context.Context, desc ocispec.Descriptor, id string, emit func(progress.Event), opts []registry.DownloadOption) error {
	w, err := j.p.store.Writer(ctx, desc, content.WithWaiting(func() {
		emit(progress.Event{ID: id, Action: progress.Waiting})
	}))
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		// Another process committed it while we waited for its lock.
		emit(progress.Event{ID: id, Action: progress.DownloadComplete})
		return nil
	}
	if err != nil {
		return err
	}
	if j.wrapWriter != nil {
		w = j.wrapWriter(w)
	}
	defer w.Close()

	srcs := j.sources(desc, emit, opts)
	for i, src := range srcs {
		parts, _ := j.parts()
		err = j.downloadFrom(ctx, src.dl, desc, id, w, emit, parts > 1)
		if err == nil || errors.Is(err, errdefs.ErrDiskFull) || ctx.Err() != nil || i == len(srcs)-1 {
			return err
		}
		j.emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("%s failed, trying %s: %v", src.name, srcs[i+1].name, err)})
	}
	return err
}

// blobSource is one place a blob can be fetched from, with its own retry
// budget.
type blobSource struct {
	name string
	dl   *registry.Download
}

// sources are the places to fetch desc from, in order: for a foreign layer
// the URLs it lists (as docker does), then every endpoint that may pull and
// has not failed this pull (see contentRemotes). A URL on an internal address is skipped
// unless the registry itself is internal: a public registry's manifest must
// not send imagec into this machine's network. Each source is a fresh
// Download, so a blob gets the client's retry budget once per endpoint.
func (j *job) sources(desc ocispec.Descriptor, emit func(progress.Event), opts []registry.DownloadOption) []blobSource {
	id := progress.ShortID(desc.Digest.String())
	opts = append([]registry.DownloadOption{registry.OnRetry(func(delay time.Duration) {
		emit(progress.Event{ID: id, Action: progress.Retrying, Message: fmt.Sprintf("in %d seconds", int(delay.Round(time.Second)/time.Second))})
	})}, opts...)
	var out []blobSource
	if manifest.IsForeign(desc.MediaType) {
		for _, raw := range desc.URLs {
			u, err := url.Parse(raw)
			if err != nil || (reference.IsInternal(u.Host) && !reference.IsInternal(j.ref.Host())) {
				continue
			}
			out = append(out, blobSource{name: u.Host, dl: j.client.URLDownload(raw, desc, opts...)})
		}
	}
	for _, r := range j.contentRemotes() {
		out = append(out, blobSource{name: r.ref.Host(), dl: j.client.BlobDownload(r.ref, desc, opts...)})
	}
	return out
}

// downloadFrom runs the transfer of one blob from one source. A body that
// fails midway resumes from the offset written, and data that fails
// verification starts once more from zero; every request, first, retried
// or resumed, is spent from the source's one budget, so a blob that keeps
// failing costs the client's attempts (default 5) requests per endpoint.
func (j *job) downloadFrom(ctx context.Context, dl *registry.Download, desc ocispec.Descriptor, id string, w content.Writer, emit func(progress.Event), parts bool) error {
	restarted := false
	// restart throws away what was written and fetches once more from zero:
	// the bytes may be stale partial data of an earlier run, or garbled in
	// transit.
	restart := func(err error) error {
		if restarted {
			return err
		}
		restarted = true
		if rerr := dl.Restart(err); rerr != nil {
			return rerr
		}
		return w.Reset()
	}
	for {
		handled, opened, err := false, false, error(nil)
		if parts {
			// A server that does not serve ranges gets one stream from
			// now on; otherwise each attempt resumes in parts.
			handled, opened, err = j.transferParts(ctx, dl, desc, id, w, emit)
			parts = handled
		}
		if !handled {
			opened, err = j.transfer(ctx, dl, desc, id, w, emit)
		}
		if errors.Is(err, errdefs.ErrDiskFull) {
			// No retry can help; what was written stays for a resume.
			return fmt.Errorf("%w (free space and pull again to resume)", err)
		}
		if err == nil {
			emit(progress.Event{ID: id, Action: progress.VerifyingChecksum})
			err = w.Commit(ctx)
			if err == nil {
				j.fetched.add()
				emit(progress.Event{ID: id, Action: progress.DownloadComplete})
				return nil
			}
			if !errors.Is(err, errdefs.ErrDigestMismatch) && !errors.Is(err, errdefs.ErrSizeMismatch) {
				return err
			}
			if err := restart(err); err != nil {
				return err
			}
			continue
		}
		switch {
		case ctx.Err() != nil:
			return err
		case !errdefs.IsRetryable(err):
			// A garbled resume (a wrong Content-Range) or a body of the
			// wrong length: start once more from zero.
			if !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrSizeMismatch) {
				return err
			}
			if err := restart(err); err != nil {
				return err
			}
		case !opened:
			// The client retried the request itself, from the same budget.
			return err
		default:
			if err := dl.Retry(ctx, err); err != nil {
				return err
			}
		}
	}
}

// transfer streams the blob from the writer's offset to its end, reporting
// whether the request was answered (opened): an error from Open is final. The
// registry client bounds the body at the descriptor's size; the writer
// hashes as it writes, so the bytes are read exactly once.
//
// A download slot is held only while bytes flow: waiting for another
// writer's lock and the fsync of the commit happen outside it, so the next
// blob's transfer overlaps them.
func (j *job) transfer(ctx context.Context, dl *registry.Download, desc ocispec.Descriptor, id string, w content.Writer, emit func(progress.Event)) (opened bool, err error) {
	release, err := j.p.sched.Slot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	body, start, err := dl.Open(ctx, w.Offset())
	if err != nil {
		return false, err
	}
	defer body.Close()
	if start != w.Offset() {
		// The registry ignored our Range request and sent the whole blob.
		if err := w.Reset(); err != nil {
			return true, err
		}
	}
	meter := transfer.NewMeter(emit, progress.Downloading, id, start, desc.Size)
	bufp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bufp)
	_, err = io.CopyBuffer(meter.Writer(w), body, *bufp)
	meter.Flush()
	return true, err
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// fetchSmall brings a config-sized blob into the store and returns it. It
// goes through the same deduplicated, locked path as layers, so concurrent
// pulls, in this process or others, fetch it once. It refuses descriptors
// above manifest.MaxSize before asking for a byte, and holds each request to
// the client's small-body deadline, as for a manifest: a registry trickling
// a config must not hold the pull indefinitely.
func (j *job) fetchSmall(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > manifest.MaxSize {
		return nil, fmt.Errorf("blob %s is %d bytes, more than the %d allowed: %w", desc.Digest, desc.Size, manifest.MaxSize, errdefs.ErrTooLarge)
	}
	if !j.p.store.Has(ctx, desc) {
		if err := j.fetchBlob(ctx, desc, progress.ShortID(desc.Digest.String()), func(progress.Event) {}, registry.SmallBody()); err != nil {
			return nil, err
		}
	}
	return j.p.store.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
}
