package local

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
)

// Attach records desc, a stored manifest naming a subject, as an
// index.json entry without a name: the way other OCI layout tools (oras
// among them) keep referrers, so they find them too. The subject is read
// from the stored, verified bytes, never from desc. The entry carries
// desc's media type, digest, size and artifact type only.
func (s *Store) Attach(ctx context.Context, desc ocispec.Descriptor) error {
	if !s.Has(ctx, desc) {
		return fmt.Errorf("attach %s: not in the store: %w", desc.Digest, errdefs.ErrNotFound)
	}
	r, ok := graph.ReferrerOf(ctx, s, desc)
	if !ok {
		return fmt.Errorf("attach %s: not an OCI manifest naming a subject: %w", desc.Digest, errdefs.ErrInvalidArgument)
	}
	entry := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: r.Listed.ArtifactType}
	return s.updateIndex(ctx, func(m []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		for _, d := range m {
			if d.Digest == desc.Digest && d.Annotations[ocispec.AnnotationRefName] == "" {
				return m, nil
			}
		}
		return append(m, entry), nil
	})
}

// Detach removes the unnamed index.json entries of d.
func (s *Store) Detach(ctx context.Context, d digest.Digest) error {
	return s.updateIndex(ctx, func(m []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		out := m[:0]
		for _, e := range m {
			if e.Digest != d || e.Annotations[ocispec.AnnotationRefName] != "" {
				out = append(out, e)
			}
		}
		if len(out) == len(m) {
			return nil, fmt.Errorf("detach %s: %w", d, errdefs.ErrNotFound)
		}
		return out, nil
	})
}
