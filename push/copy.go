package push

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
)

// Copy copies the image src names from its registry to dest, streamed and
// verified, without a store: the whole index by default, so the digest is
// kept, or one platform's manifest (WithPlatform); from src's mirrors
// first (WithSourceEndpoints). When src and dest share a registry, blobs
// are mounted, not copied.
func (p *Pusher) Copy(ctx context.Context, src, dest reference.Reference, opts ...PushOption) (*Result, error) {
	o := collect(opts)
	refs := []reference.Reference{src}
	if len(o.endpoints) > 0 {
		refs = o.endpoints
	}
	sc := p.client
	if o.source != nil {
		sc = o.source
	}
	source := registrySource{c: sc, refs: refs}
	m, err := sc.GetManifestFrom(ctx, refs, manifest.Accept)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	parsed, err := manifest.Parse(m.MediaType, m.Body)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	if parsed.Schema1 != nil {
		return nil, fmt.Errorf("copy %s: a schema 1 image, which registries no longer accept (pull it, imagec converts it, then push): %w", src, errdefs.ErrUnsupported)
	}
	d, err := manifest.Digest(parsed.MediaType, m.Body)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	top := ocispec.Descriptor{MediaType: parsed.MediaType, Digest: d, Size: int64(len(m.Body))}
	if o.platform != nil && parsed.Index != nil {
		child, err := manifest.SelectManifest(parsed.Index, *o.platform)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", src, err)
		}
		top = ocispec.Descriptor{MediaType: child.MediaType, Digest: child.Digest, Size: child.Size}
	}
	res, err := p.Send(ctx, source, top, dest, o.sink, opts...)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", src, err)
	}
	return res, nil
}
