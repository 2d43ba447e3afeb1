// Package push sends images to a registry: from the store (push) or from
// another registry (copy), on the same transfer scheduler as pulls. The
// destination receives the documents byte for byte, so an image keeps the
// digest it was pulled under; blobs the destination has are not sent, and
// blobs it holds in the source's repository are mounted rather than
// uploaded.
package push

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/transfer"
)

// DefaultMaxConcurrentUploads matches docker's default.
const DefaultMaxConcurrentUploads = 5

// Pusher uploads images through one registry client. It is safe for
// concurrent use: pushes of one Pusher (or of pullers and pushers sharing
// its scheduler) send a blob to a repository once.
type Pusher struct {
	client   *registry.Client
	sched    *transfer.Scheduler
	parallel int
	upload   []registry.UploadOption
}

// Option configures a Pusher.
type Option func(*Pusher)

// WithScheduler runs the uploads on s, shared with pullers and other
// pushers. Default: a scheduler of the Pusher's own with
// WithMaxConcurrentUploads slots.
func WithScheduler(s *transfer.Scheduler) Option { return func(p *Pusher) { p.sched = s } }

// WithMaxConcurrentUploads bounds how many blobs upload at once (for a
// Pusher with a scheduler of its own). Default DefaultMaxConcurrentUploads.
func WithMaxConcurrentUploads(n int) Option {
	return func(p *Pusher) {
		if n > 0 {
			p.parallel = n
		}
	}
}

// WithUploadOptions adds options to every blob upload (chunk sizes).
// Default none.
func WithUploadOptions(opts ...registry.UploadOption) Option {
	return func(p *Pusher) { p.upload = append(p.upload, opts...) }
}

// New returns a Pusher uploading with client.
func New(client *registry.Client, opts ...Option) *Pusher {
	p := &Pusher{client: client, parallel: DefaultMaxConcurrentUploads}
	for _, o := range opts {
		o(p)
	}
	if p.sched == nil {
		p.sched = transfer.New(p.parallel)
	}
	return p
}

// Result describes a finished push.
type Result struct {
	// Reference is where the image went; Desc the top document sent
	// (its digest is the image's digest there).
	Reference reference.Reference
	Desc      ocispec.Descriptor
	// Uploaded, Mounted and Existing count the blobs by how they came to
	// be at the destination.
	Uploaded, Mounted, Existing int
	// Referrers counts the referrers sent (WithReferrers).
	Referrers int
}

// Send pushes the image whose top document is top from src to dest: every
// blob its documents need, then the documents (an index after its
// manifests), the top one under dest's tag, or by digest when dest pins
// one (which must be top's). Nothing is sent before the whole graph is
// known to be in src. Of opts, WithReferrers applies (progress goes to
// sink): the referrers follow the image.
func (p *Pusher) Send(ctx context.Context, src Source, top ocispec.Descriptor, dest reference.Reference, sink progress.Sink, opts ...PushOption) (*Result, error) {
	if sink == nil {
		sink = progress.Discard()
	}
	o := collect(opts)
	o.sink = sink
	if d := dest.Digest(); d != "" && d != top.Digest {
		return nil, fmt.Errorf("push to %s: the image is %s, not the digest named: %w", dest, top.Digest, errDestDigest)
	}
	pl, err := makePlan(ctx, src, top)
	if err != nil {
		return nil, fmt.Errorf("push to %s: %w", dest, err)
	}
	sink.Emit(progress.Event{Action: progress.Status, Message: "The push refers to repository [" + dest.Domain() + "/" + dest.Path() + "]"})
	res := &Result{Reference: dest}
	if err := p.sendBlobs(ctx, src, pl.blobs, dest, sink, res); err != nil {
		return nil, fmt.Errorf("push to %s: %w", dest, err)
	}
	for _, d := range pl.docs[:len(pl.docs)-1] {
		if _, err := p.client.PutManifest(ctx, dest.WithDigest(d.desc.Digest), d.desc.MediaType, d.body); err != nil {
			return nil, err
		}
	}
	last := pl.docs[len(pl.docs)-1]
	target := dest
	if dest.Digest() == "" {
		target = dest.WithTag(dest.Tag())
	}
	desc, err := p.client.PutManifest(ctx, target, last.desc.MediaType, last.body)
	if err != nil {
		return nil, err
	}
	res.Desc = desc
	sink.Emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("%s: digest: %s size: %d", dest.Identifier(), desc.Digest, desc.Size)})
	if o.referrerDepth > 0 {
		subjects := make([]digest.Digest, 0, len(pl.docs))
		for i := len(pl.docs) - 1; i >= 0; i-- {
			subjects = append(subjects, pl.docs[i].desc.Digest)
		}
		if err := p.sendReferrers(ctx, src, subjects, dest, o, res); err != nil {
			return nil, fmt.Errorf("push to %s: %w", dest, err)
		}
	}
	return res, nil
}

// sendBlobs makes every blob present at dest, concurrently on the
// scheduler, each blob once per destination repository.
func (p *Pusher) sendBlobs(ctx context.Context, src Source, blobs []ocispec.Descriptor, dest reference.Reference, sink progress.Sink, res *Result) error {
	for _, b := range blobs {
		sink.Emit(progress.Event{ID: progress.ShortID(b.Digest.String()), Action: progress.Preparing})
	}
	where := "push " + dest.Domain() + "/" + dest.Path()
	outcomes := make([]registry.BlobPush, len(blobs))
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range blobs {
		id := progress.ShortID(b.Digest.String())
		g.Go(func() error {
			var how registry.BlobPush
			_, err := p.sched.Once(gctx, b.Digest, where, func() {
				sink.Emit(progress.Event{ID: id, Action: progress.Waiting})
			}, func(ctx context.Context) (err error) {
				how, err = p.sendBlob(ctx, src, b, dest, id, sink)
				return err
			})
			if err != nil {
				sink.Emit(progress.Event{ID: id, Action: progress.Failed, Err: err})
				return err
			}
			outcomes[i] = how
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, how := range outcomes {
		switch how {
		case registry.BlobUploaded:
			res.Uploaded++
		case registry.BlobMounted:
			res.Mounted++
		default:
			res.Existing++ // present, or sent by a push sharing the scheduler
		}
	}
	return nil
}

// sendBlob pushes one blob, holding a scheduler slot while it does.
func (p *Pusher) sendBlob(ctx context.Context, src Source, b ocispec.Descriptor, dest reference.Reference, id string, sink progress.Sink) (registry.BlobPush, error) {
	release, err := p.sched.Slot(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	open, closeSrc, err := src.Blob(ctx, b)
	if err != nil {
		return 0, err
	}
	defer closeSrc()
	meter := transfer.NewMeter(sink.Emit, progress.Pushing, id, 0, b.Size)
	last := int64(0)
	opts := append([]registry.UploadOption{
		registry.OnUploadProgress(func(offset int64) {
			if offset < last {
				meter = transfer.NewMeter(sink.Emit, progress.Pushing, id, offset, b.Size) // resumed lower
			} else {
				meter.Add(int(offset - last))
			}
			last = offset
		}),
		registry.OnUploadRetry(func(delay time.Duration) {
			sink.Emit(progress.Event{ID: id, Action: progress.Retrying, Message: "in " + strconv.Itoa(int(delay.Round(time.Second)/time.Second)) + " seconds"})
		}),
	}, p.upload...)
	origin, known := src.Origin()
	if known && origin.Host() == dest.Host() && origin.Path() != dest.Path() {
		opts = append(opts, registry.MountFrom(origin))
	}
	how, err := p.client.PushBlob(ctx, dest, b, open, opts...)
	if err != nil {
		return 0, err
	}
	switch how {
	case registry.BlobExists:
		sink.Emit(progress.Event{ID: id, Action: progress.LayerExists})
	case registry.BlobMounted:
		sink.Emit(progress.Event{ID: id, Action: progress.MountedFrom, Message: origin.Path()})
	default:
		meter.Flush()
		sink.Emit(progress.Event{ID: id, Action: progress.Pushed})
	}
	return how, nil
}
