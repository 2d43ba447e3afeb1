package graph

import (
	"context"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/manifest"
)

// Attached reads entry, an index.json entry, for what it is attached to:
// ok only for an entry without a name whose stored document names a
// subject (content.Attacher). Such an entry is no image of its own: it
// lives while its subject is reachable from a name.
func Attached(ctx context.Context, p content.Provider, entry ocispec.Descriptor) (manifest.Referrer, bool) {
	if entry.Annotations[ocispec.AnnotationRefName] != "" {
		return manifest.Referrer{}, false
	}
	return ReferrerOf(ctx, p, entry)
}

// ReferrerOf reads the stored document desc describes (an OCI manifest or
// index) for the subject it names; ok is false when it names none or
// cannot be read.
func ReferrerOf(ctx context.Context, p content.Provider, desc ocispec.Descriptor) (manifest.Referrer, bool) {
	entry := desc
	if entry.MediaType != ocispec.MediaTypeImageManifest && entry.MediaType != ocispec.MediaTypeImageIndex {
		return manifest.Referrer{}, false
	}
	body, err := p.ReadBlob(ctx, entry.Digest, manifest.MaxSize)
	if err != nil {
		return manifest.Referrer{}, false
	}
	r, ok, err := manifest.ReadReferrer(entry, body)
	return r, ok && err == nil
}

// Referrers lists the stored referrers of subject, as the referrers API
// lists them: every index.json entry (attached, or named) whose stored
// document's subject field names subject, with its artifact type and
// annotations, in index.json order. The subject is read from verified
// content; an entry whose document cannot be read is left out.
func Referrers(ctx context.Context, v content.View, subject digest.Digest) ([]ocispec.Descriptor, error) {
	all, err := ReferrerIndex(ctx, v)
	if err != nil {
		return nil, err
	}
	return all[subject], nil
}

// ReferrerIndex is Referrers for every subject at once, read in one pass
// over the store's entries: for a caller asking of many subjects (a push
// with its referrers, a save).
func ReferrerIndex(ctx context.Context, v content.View) (map[digest.Digest][]ocispec.Descriptor, error) {
	entries, err := v.Images(ctx)
	if err != nil {
		return nil, err
	}
	out := map[digest.Digest][]ocispec.Descriptor{}
	seen := map[digest.Digest]bool{}
	for _, e := range entries {
		if seen[e.Digest] {
			continue
		}
		seen[e.Digest] = true
		if r, ok := ReferrerOf(ctx, v, e); ok {
			out[r.Subject.Digest] = append(out[r.Subject.Digest], r.Listed)
		}
	}
	return out, nil
}

// ReferrerLister lists the referrers of subject: a registry's referrers
// API, or a store's entries (Referrers).
type ReferrerLister func(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)

// The default bounds of a walk of referrers. A signature of an SBOM of an
// image is depth 2; real graphs are a few dozen manifests.
const (
	DefaultReferrerDepth = 4
	DefaultMaxReferrers  = 256
)

// ReferrerBounds is depth and max with the defaults for what is not
// positive: what a WithReferrers(depth, max) option means.
func ReferrerBounds(depth, max int) (int, int) {
	if depth <= 0 {
		depth = DefaultReferrerDepth
	}
	if max <= 0 {
		max = DefaultMaxReferrers
	}
	return depth, max
}

// FoundReferrer is one manifest a walk of referrers reached.
type FoundReferrer struct {
	Desc ocispec.Descriptor
	// Subject is what it was listed as a referrer of; Depth is 1 for a
	// referrer of a root.
	Subject digest.Digest
	Depth   int
}

// WalkReferrers lists the referrers of roots and, in turn, theirs
// (signatures of attestations), breadth first, so every referrer comes
// after its subject: at most depth levels below the roots and max
// manifests in all, each once. truncated says a bound cut the walk short.
// The descriptors are the lister's, unverified.
func WalkReferrers(ctx context.Context, list ReferrerLister, roots []digest.Digest, depth, max int) (found []FoundReferrer, truncated bool, err error) {
	seen := map[digest.Digest]bool{}
	for _, r := range roots {
		seen[r] = true
	}
	level := roots
	for d := 1; len(level) > 0; d++ {
		if d > depth {
			// Only a lookup tells whether anything lies deeper.
			for _, s := range level {
				more, err := list(ctx, s)
				if err != nil {
					return nil, false, err
				}
				if len(more) > 0 {
					return found, true, nil
				}
			}
			return found, false, nil
		}
		var next []digest.Digest
		for _, s := range level {
			refs, err := list(ctx, s)
			if err != nil {
				return nil, false, err
			}
			for _, r := range refs {
				if seen[r.Digest] {
					continue
				}
				if len(found) == max {
					return found, true, nil
				}
				seen[r.Digest] = true
				found = append(found, FoundReferrer{Desc: r, Subject: s, Depth: d})
				next = append(next, r.Digest)
			}
		}
		level = next
	}
	return found, false, nil
}
