package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// A pull in parts, for a pull-through cache, which fetches what its
// clients ask for one document or blob at a time (a client picks its own
// platform) instead of a whole image: the same endpoints (mirrors first),
// retries, verification and records as Pull.

// Resolve asks ref's endpoints, in order, what ref's tag points at, with a
// HEAD (no body): the first that answers wins. The digest is the
// registry's word (Docker-Content-Digest, "" when it sends none), to
// compare with what the store holds; FetchManifest verifies what it
// fetches.
func (p *Puller) Resolve(ctx context.Context, ref reference.Reference) (ocispec.Descriptor, error) {
	remotes, client, err := p.remotes(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	j := &job{p: p, ref: ref, remotes: remotes, client: client}
	candidates := j.resolvers()
	for k, i := range candidates {
		try := ctx
		if k < len(candidates)-1 {
			try = registry.NoRetry(ctx) // a dead mirror hands over at once
		}
		desc, err := client.HeadManifest(try, remotes[i].ref, manifest.Accept)
		if err == nil || ctx.Err() != nil || k == len(candidates)-1 {
			return desc, explain(ref, err)
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no endpoint for %s: %w", ref, errdefs.ErrNotFound)
}

// FetchManifest fetches the manifest or index ref names from the first of
// ref's endpoints that has it, verifies it (against ref's digest when it
// pins one) and stores it, without recording a name or fetching what it
// refers to: for a document a stored name already reaches (the platform
// manifest of a stored index). It returns the document's descriptor as
// the registry served it.
func (p *Puller) FetchManifest(ctx context.Context, ref reference.Reference) (ocispec.Descriptor, error) {
	return p.manifestPart(ctx, ref, func(j *job, top *document) error {
		return j.record(ctx, ocispec.Descriptor{}, top)
	})
}

// manifestPart fetches ref's document at the first endpoint that has it
// and has record store it, under a lease of the store.
func (p *Puller) manifestPart(ctx context.Context, ref reference.Reference, record func(*job, *document) error) (ocispec.Descriptor, error) {
	j, release, err := p.partJob(ctx, ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer release()
	top, _, err := j.resolve(ctx, nil, false)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return top.desc, record(j, top)
}

// PullManifest is FetchManifest that also records ref's name as Pull
// records an image: for an OCI document, the document; for a Docker one,
// imagec's wrapper index around it. It fetches no blob but, for a lone
// Docker manifest, its config, from which the wrapper takes the image's
// platform. A schema 1 manifest is refused (errdefs.ErrUnsupported):
// the image Pull converts it to needs every layer.
func (p *Puller) PullManifest(ctx context.Context, ref reference.Reference) (ocispec.Descriptor, error) {
	return p.manifestPart(ctx, ref, func(j *job, top *document) error {
		entry, docs := top.desc, []*document{top}
		switch {
		case top.parsed.Schema1 != nil:
			return fmt.Errorf("manifest %s is schema 1, which is only pulled whole: %w", ref, errdefs.ErrUnsupported)
		case !isOCI(top.desc.MediaType):
			children, err := j.wrapperChildren(ctx, top)
			if err != nil {
				return err
			}
			wrapper, wentry, err := wrapIndex(top.desc.Digest, children)
			if err != nil {
				return err
			}
			docs, entry = append(docs, wrapper), wentry
		}
		return j.record(ctx, entry, docs...)
	})
}

// wrapperChildren are the manifests the wrapper of a Docker document
// lists, as Pull writes them.
func (j *job) wrapperChildren(ctx context.Context, top *document) ([]ocispec.Descriptor, error) {
	if top.parsed.Index != nil {
		return top.parsed.Index.Manifests, nil
	}
	raw, err := j.fetchSmall(ctx, top.parsed.Image.Config)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", top.parsed.Image.Config.Digest, err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %v: %w", top.parsed.Image.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	child := top.desc
	child.Platform = image.PlatformOf(&cfg)
	return []ocispec.Descriptor{child}, nil
}

// BlobOption configures FetchBlob.
type BlobOption func(*job)

// WithIngestWriter gives wrap the store's ingest writer of the blob
// before the first byte is written, and the download writes through what
// wrap returns: to watch the bytes as they arrive, such as a server
// streaming them on. The writer may hold data of an earlier, interrupted
// fetch (its Offset). Default: none.
func WithIngestWriter(wrap func(content.Writer) content.Writer) BlobOption {
	return func(j *job) { j.wrapWriter = wrap }
}

// FetchBlob brings blob desc of ref's repository into the store from
// ref's endpoints (mirrors first, then the registry, each with the
// client's retry budget, a body that breaks off resumed), verified
// against desc. A fetch of the same blob already running on the Puller's
// scheduler is waited for instead, and its outcome shared; a blob the
// store already holds is success.
func (p *Puller) FetchBlob(ctx context.Context, ref reference.Reference, desc ocispec.Descriptor, opts ...BlobOption) error {
	if p.store.Has(ctx, desc) {
		return nil
	}
	j, release, err := p.partJob(ctx, ref)
	if err != nil {
		return err
	}
	defer release()
	j.src = 0
	for _, o := range opts {
		o(j)
	}
	err = j.fetchBlob(ctx, desc, progress.ShortID(desc.Digest.String()), j.emit)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		return nil
	}
	return err
}

// partJob is the job of one part of a pull, under a lease of the store:
// what it stores is kept from garbage collection until it is named.
func (p *Puller) partJob(ctx context.Context, ref reference.Reference) (*job, func(), error) {
	remotes, client, err := p.remotes(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ref, err)
	}
	release, err := p.store.Lease(ctx)
	if err != nil {
		return nil, nil, err
	}
	j := &job{p: p, ref: ref, opts: pullOptions{sink: progress.Discard()}, remotes: remotes, src: len(remotes) - 1, client: client}
	return j, release, nil
}
