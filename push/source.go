package push

import (
	"context"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// Source is where a push reads what it sends: a content store, or another
// registry (copy).
type Source interface {
	// Document returns the bytes of the manifest or index desc, verified
	// against its digest; errdefs.ErrNotFound when the source lacks it.
	Document(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)
	// Blob opens blob desc for an upload, which may read it from any
	// offset; close releases it.
	Blob(ctx context.Context, desc ocispec.Descriptor) (src registry.BlobSource, close func(), err error)
	// Origin is the repository the content is known in, for the
	// destination registry to mount blobs from when it is the same one.
	Origin() (reference.Reference, bool)
	// String names the source in messages.
	String() string
}

// StoreSource reads from a content store. origin, when set, is where the
// stored image came from (its name), for mounts. A store that is also a
// content.View lists its attached referrers (ReferrerSource).
func StoreSource(st content.Provider, origin *reference.Reference) Source {
	names, _ := st.(content.View)
	return storeSource{st: st, origin: origin, refs: &storeReferrers{names: names}}
}

type storeSource struct {
	st     content.Provider
	origin *reference.Reference
	refs   *storeReferrers
}

func (s storeSource) String() string { return "the store" }

func (s storeSource) Origin() (reference.Reference, bool) {
	if s.origin == nil {
		return reference.Reference{}, false
	}
	return *s.origin, true
}

func (s storeSource) Document(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if !s.st.Has(ctx, desc) {
		return nil, fmt.Errorf("%s %s is not in the store: %w", mediaKind(desc.MediaType), desc.Digest, errdefs.ErrNotFound)
	}
	return s.st.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
}

func (s storeSource) Blob(ctx context.Context, desc ocispec.Descriptor) (registry.BlobSource, func(), error) {
	if !s.st.Has(ctx, desc) {
		return nil, nil, fmt.Errorf("blob %s is not in the store: %w", desc.Digest, errdefs.ErrNotFound)
	}
	r, err := s.st.Open(ctx, desc.Digest)
	if err != nil {
		return nil, nil, err
	}
	return registry.ReaderAtSource(r), func() { r.Close() }, nil
}

// RegistrySource reads an image from a registry through client, at the
// first of refs that has it (the same repository at each endpoint: mirrors
// first, the registry itself last, as config.Config.References lists
// them). Documents are fetched by digest and verified; blobs stream under
// the client's retry budget and resume where a body broke off. The
// destination verifies every blob's digest when its upload closes, so no
// byte a source altered is kept.
func RegistrySource(client *registry.Client, refs ...reference.Reference) Source {
	return registrySource{c: client, refs: refs}
}

type registrySource struct {
	c    *registry.Client
	refs []reference.Reference
}

func (s registrySource) upstream() reference.Reference { return s.refs[len(s.refs)-1] }

func (s registrySource) String() string {
	u := s.upstream()
	return u.Domain() + "/" + u.Path()
}

func (s registrySource) Origin() (reference.Reference, bool) { return s.upstream(), true }

func (s registrySource) Document(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	refs := make([]reference.Reference, len(s.refs))
	for i, r := range s.refs {
		refs[i] = r.WithDigest(desc.Digest)
	}
	m, err := s.c.GetManifestFrom(ctx, refs, manifest.Accept)
	if err != nil {
		return nil, err
	}
	return m.Body, nil
}

func (s registrySource) Blob(_ context.Context, desc ocispec.Descriptor) (registry.BlobSource, func(), error) {
	var dl *registry.Download
	open := func(ctx context.Context, offset int64) (io.ReadCloser, error) {
		if dl != nil {
			return skipTo(dl, ctx, offset, desc)
		}
		var err error
		for i, r := range s.refs {
			d := s.c.BlobDownload(r, desc)
			try := ctx
			if i < len(s.refs)-1 {
				try = registry.NoRetry(ctx) // a mirror hands over at once
			}
			var body io.ReadCloser
			if body, err = skipTo(d, try, offset, desc); err == nil {
				dl = d
				return body, nil
			}
			if ctx.Err() != nil {
				break
			}
		}
		return nil, err
	}
	return open, func() {}, nil
}

// skipTo opens dl at offset; a source that ignores the range request sends
// the blob from its start, which is skipped up to offset.
func skipTo(dl *registry.Download, ctx context.Context, offset int64, desc ocispec.Descriptor) (io.ReadCloser, error) {
	body, start, err := dl.Open(ctx, offset)
	if err != nil {
		return nil, err
	}
	if start != offset {
		if _, err := io.CopyN(io.Discard, body, offset-start); err != nil {
			body.Close()
			return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
	}
	return body, nil
}

func mediaKind(mt string) string {
	switch {
	case manifest.IsIndex(mt):
		return "index"
	case mt == "":
		return "document"
	}
	return "manifest"
}
