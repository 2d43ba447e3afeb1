// Package pull is imagec's engine: it resolves a reference against a
// registry, schedules the blob downloads, verifies everything and records the
// image in the store. It connects the registry client and the store, which
// know nothing of each other.
package pull

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/transfer"
)

// DefaultMaxConcurrentDownloads matches docker's default.
const DefaultMaxConcurrentDownloads = 3

// Puller pulls images into one store. It is safe for concurrent use: pulls
// running at the same time through one Puller share in-flight blob downloads,
// and pulls in other processes share them through the store's ingest locks.
type Puller struct {
	client   *registry.Client
	store    content.Store
	parallel int

	endpoints func(domain string) ([]Endpoint, error)

	// A schema 1 layer is decompressed at pull time to compute its diffID;
	// it may inflate to inflateRatio times its size, or inflateFloor bytes,
	// whichever is more. Fields, not constants, so a test can reach the
	// bound without inflating a gigabyte.
	inflateFloor, inflateRatio int64

	sched *transfer.Scheduler

	// parts is how many connections one large blob may use (1: one
	// stream); partThreshold the smallest remainder fetched in parts.
	parts         int
	partThreshold int64
	partsFor      func(domain string) int
	// partsSet: parts was asked for (WithParts), so a large blob is always
	// split; otherwise it is split only when its first part came slower
	// than splitRate bytes per second.
	partsSet  bool
	splitRate float64
}

// Option configures a Puller.
type Option func(*Puller)

// WithMaxConcurrentDownloads bounds how many blobs download at once across
// all pulls of this Puller. Default DefaultMaxConcurrentDownloads (3).
func WithMaxConcurrentDownloads(n int) Option {
	return func(p *Puller) {
		if n > 0 {
			p.parallel = n
		}
	}
}

// WithScheduler runs the Puller's downloads on s, shared with other pullers
// and pushers, so they dedupe transfers and share its slots. Default: a
// scheduler of the Puller's own with WithMaxConcurrentDownloads slots.
func WithScheduler(s *transfer.Scheduler) Option {
	return func(p *Puller) { p.sched = s }
}

// WithParts sets how many concurrent Range requests (parts of
// DefaultPartSize) one blob of at least DefaultPartThreshold bytes is
// fetched with, always; 1 fetches every blob as one stream. Each part
// holds one of the scheduler's connections. Default: DefaultParts, for a
// blob whose first part came slower than DefaultSplitRate (one stream
// keeps up with a fast link, where more would only cost CPU).
func WithParts(n int) Option {
	return func(p *Puller) {
		if n > 0 {
			p.parts, p.partsSet = n, true
		}
	}
}

// WithSplitRate sets the rate, in bytes per second, below which a large
// blob's first part must arrive for the rest to come in parts (when
// WithParts was not given). Default DefaultSplitRate; 0 keeps it.
func WithSplitRate(bytesPerSecond float64) Option {
	return func(p *Puller) {
		if bytesPerSecond > 0 {
			p.splitRate = bytesPerSecond
		}
	}
}

// WithPartsFor sets the parts per blob for the images of some registry
// domains (and their mirrors): f returns a count, 1 for one stream (a
// registry that misbehaves with ranges), or 0 for WithParts's. Default:
// WithParts's everywhere.
func WithPartsFor(f func(domain string) int) Option {
	return func(p *Puller) { p.partsFor = f }
}

// New returns a Puller that fetches with client and records into st.
func New(client *registry.Client, st content.Store, opts ...Option) *Puller {
	p := &Puller{
		client:   client,
		store:    st,
		parallel: DefaultMaxConcurrentDownloads,
		parts:    DefaultParts,

		partThreshold: DefaultPartThreshold,
		splitRate:     DefaultSplitRate,

		inflateFloor: 1 << 30,
		inflateRatio: 1000,
	}
	for _, o := range opts {
		o(p)
	}
	if p.sched == nil {
		p.sched = transfer.New(p.parallel)
	}
	return p
}

// PullOption configures one pull.
type PullOption func(*pullOptions)

type pullOptions struct {
	platform       *ocispec.Platform
	sink           progress.Sink
	includeForeign bool
	layerHook      LayerHook
	verifier       Verifier
	// referrers bounds the walk of referrers (depth levels, max
	// manifests); depth 0 pulls none.
	referrerDepth, maxReferrers int
}

// LayerHook is given each layer of the pulled image, bottom first, once the
// layer's blob (verified) and those below it are in the store. i is the
// layer's index and diffID its uncompressed digest from the config.
type LayerHook func(ctx context.Context, i int, layer ocispec.Descriptor, diffID digest.Digest) error

// WithLayerHook runs hook on each layer in order while later layers still
// download, to unpack as the pull goes. An error from it fails the pull.
// It is called for every layer, present or downloaded, and not for legacy
// schema 1 images. Default none.
func WithLayerHook(hook LayerHook) PullOption {
	return func(o *pullOptions) { o.layerHook = hook }
}

// WithPlatform selects the platform taken from an index. Default: the host's.
func WithPlatform(p ocispec.Platform) PullOption {
	return func(o *pullOptions) { o.platform = &p }
}

// WithProgress sends progress events to s. Default: discarded.
func WithProgress(s progress.Sink) PullOption {
	return func(o *pullOptions) { o.sink = s }
}

// WithForeignLayers also downloads non-distributable (foreign) layers: from
// the URLs their descriptors list (without credentials; internal addresses
// only for an internal registry), else from the registry. Default false:
// they are recorded in the manifest only.
func WithForeignLayers(include bool) PullOption {
	return func(o *pullOptions) { o.includeForeign = include }
}

// Result describes a finished pull.
type Result struct {
	// Reference is the name the image is recorded under.
	Reference reference.Reference
	// Digest is what the reference resolved to at the registry: the index
	// for a multi-platform image, as docker shows it.
	Digest digest.Digest
	// Manifest is the platform image manifest that was pulled.
	Manifest ocispec.Descriptor
	// ImageID is the config digest.
	ImageID digest.Digest
	// UpToDate is true when nothing had to be downloaded.
	UpToDate bool
	// Fetched counts the blobs this pull downloaded (not those it reused).
	Fetched int
}

// Pull fetches ref into the store and records it under ref's full name. A
// blob already in the store is never downloaded again. Every blob is
// verified against its digest before it becomes visible in the store.
func (p *Puller) Pull(ctx context.Context, ref reference.Reference, opts ...PullOption) (*Result, error) {
	o := pullOptions{sink: progress.Discard()}
	for _, fn := range opts {
		fn(&o)
	}
	remotes, client, err := p.remotes(ref)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	// Blobs are committed before the name that keeps them is written: hold
	// off garbage collection until then.
	release, err := p.store.Lease(ctx)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	defer release()
	j := &job{p: p, ref: ref, opts: o, remotes: remotes, src: len(remotes) - 1, client: client}
	res, err := j.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref.Familiar(), err)
	}
	return res, nil
}

// errNotImage marks a document that resolved to something imagec cannot run.
var errNotImage = fmt.Errorf("not a container image: %w", errdefs.ErrUnsupported)
