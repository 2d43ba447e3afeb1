package push

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

var errDestDigest = fmt.Errorf("destination digest: %w", errdefs.ErrInvalidArgument)

// PushOption configures one push or copy.
type PushOption func(*pushOptions)

type pushOptions struct {
	sink      progress.Sink
	platform  *ocispec.Platform
	endpoints []reference.Reference
	source    *registry.Client
	// referrerDepth 0 sends no referrers.
	referrerDepth, maxReferrers int
}

// WithSourceEndpoints has Copy read its source at refs, in order: the
// source at each of its registry's mirrors, the source itself last (as
// config.Config.References lists them). Default: the source only.
func WithSourceEndpoints(refs []reference.Reference) PushOption {
	return func(o *pushOptions) { o.endpoints = refs }
}

// WithSourceClient has Copy read its source through c: a view of the
// pusher's client made by registry.Client.Via, which speaks to the
// source's mirrors (ns=, API roots, headers) and must not be used for the
// destination. Default: the pusher's client.
func WithSourceClient(c *registry.Client) PushOption {
	return func(o *pushOptions) { o.source = c }
}

// WithProgress sends progress events to s. Default: discarded.
func WithProgress(s progress.Sink) PushOption { return func(o *pushOptions) { o.sink = s } }

// WithPlatform sends only the manifest of an index for platform (its
// digest, not the index's, is then the image's at the destination).
// Default: the whole index, every manifest of which must be at hand.
func WithPlatform(p ocispec.Platform) PushOption { return func(o *pushOptions) { o.platform = &p } }

func collect(opts []PushOption) pushOptions {
	o := pushOptions{sink: progress.Discard()}
	for _, fn := range opts {
		fn(&o)
	}
	return o
}

// Push uploads the image the store names name (a full reference) to dest.
// The registry receives the documents the registry the image came from
// served (not the index imagec wraps Docker-typed images in), so its
// digest at dest is the one it was pulled under. A legacy schema 1 image
// is sent as the schema 2 image imagec converted it to, which registries
// accept (they no longer take schema 1), under that image's digest.
// Garbage collection waits while Push runs.
func (p *Pusher) Push(ctx context.Context, st content.Source, name string, dest reference.Reference, opts ...PushOption) (*Result, error) {
	o := collect(opts)
	release, err := st.Lease(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	entry, err := st.Image(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", name, err)
	}
	top, err := storedTop(ctx, st, entry, o)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", name, err)
	}
	var origin *reference.Reference
	if ref, err := reference.Parse(name); err == nil {
		origin = &ref
	}
	return p.Send(ctx, StoreSource(st, origin), top, dest, o.sink, opts...)
}

// storedTop is the document a push of entry sends.
func storedTop(ctx context.Context, st content.Provider, entry ocispec.Descriptor, o pushOptions) (ocispec.Descriptor, error) {
	top, err := graph.Original(ctx, st, entry)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if manifest.IsSchema1(top.MediaType) {
		converted, err := onlyChild(ctx, st, entry)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		o.sink.Emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf(
			"Schema 1 image: pushing the schema 2 image it was converted to (%s); registries no longer accept schema 1", converted.Digest)})
		return converted, nil
	}
	if o.platform == nil || !manifest.IsIndex(top.MediaType) {
		return top, nil
	}
	return selectStored(ctx, st, top, *o.platform)
}

// onlyChild is the one manifest of an imagec wrapper index.
func onlyChild(ctx context.Context, st content.Provider, entry ocispec.Descriptor) (ocispec.Descriptor, error) {
	idx, err := readIndex(ctx, st, entry)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if len(idx.Manifests) != 1 {
		return ocispec.Descriptor{}, fmt.Errorf("index %s: %d manifests, want 1: %w", entry.Digest, len(idx.Manifests), errdefs.ErrInvalidArgument)
	}
	m := idx.Manifests[0]
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}, nil
}

// selectStored picks the manifest of index top for platform among those
// the store holds.
func selectStored(ctx context.Context, st content.Provider, top ocispec.Descriptor, want ocispec.Platform) (ocispec.Descriptor, error) {
	idx, err := readIndex(ctx, st, top)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	present := ocispec.Index{MediaType: idx.MediaType}
	for _, m := range idx.Manifests {
		if st.Has(ctx, m) {
			present.Manifests = append(present.Manifests, m)
		}
	}
	child, err := manifest.SelectManifest(&present, want)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("index %s in the store: %w", top.Digest, err)
	}
	return ocispec.Descriptor{MediaType: child.MediaType, Digest: child.Digest, Size: child.Size}, nil
}

func readIndex(ctx context.Context, st content.Provider, desc ocispec.Descriptor) (*ocispec.Index, error) {
	body, err := st.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
	if err != nil {
		return nil, err
	}
	parsed, err := manifest.Parse(desc.MediaType, body)
	if err != nil {
		return nil, err
	}
	if parsed.Index == nil {
		return nil, fmt.Errorf("%s is not an index: %w", desc.Digest, errdefs.ErrInvalidArgument)
	}
	return parsed.Index, nil
}
