package push

import (
	"context"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// ReferrerSource is a Source that can list referrers: the manifests whose
// subject is a given one (signatures, SBOMs). Both of this package's
// sources are.
type ReferrerSource interface {
	Source
	// Referrers lists the referrers of subject the source holds.
	Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error)
}

// WithReferrers also sends the image's referrers, and theirs in turn, at
// most depth levels deep and max manifests in all (0:
// graph.DefaultReferrerDepth, DefaultMaxReferrers), each after its subject
// and with its blobs: those of every document the push sends (the top one,
// and an index's manifests). Where the destination has no referrers API,
// the sha256-<hex> tag listing them is written too (registry.PutReferrer).
// Default: none.
func WithReferrers(depth, max int) PushOption {
	return func(o *pushOptions) {
		o.referrerDepth, o.maxReferrers = graph.ReferrerBounds(depth, max)
	}
}

// sendReferrers sends the referrers of subjects from src to dest's
// repository, once the subjects are there.
func (p *Pusher) sendReferrers(ctx context.Context, src Source, subjects []digest.Digest, dest reference.Reference, o pushOptions, res *Result) error {
	rs, ok := src.(ReferrerSource)
	if !ok {
		return fmt.Errorf("%s cannot list referrers", src)
	}
	found, truncated, err := graph.WalkReferrers(ctx, rs.Referrers, subjects, o.referrerDepth, o.maxReferrers)
	if err != nil {
		return fmt.Errorf("referrers: %w", err)
	}
	for _, r := range found {
		desc := ocispec.Descriptor{MediaType: r.Desc.MediaType, Digest: r.Desc.Digest, Size: r.Desc.Size}
		pl, err := makePlan(ctx, src, desc)
		if err != nil {
			return fmt.Errorf("referrer %s of %s: %w", r.Desc.Digest, r.Subject, err)
		}
		if err := p.sendBlobs(ctx, src, pl.blobs, dest, o.sink, res); err != nil {
			return fmt.Errorf("referrer %s of %s: %w", r.Desc.Digest, r.Subject, err)
		}
		for _, d := range pl.docs[:len(pl.docs)-1] {
			if _, err := p.client.PutManifest(ctx, dest.WithDigest(d.desc.Digest), d.desc.MediaType, d.body); err != nil {
				return err
			}
		}
		last := pl.docs[len(pl.docs)-1]
		listed, tagged, err := p.client.PutReferrer(ctx, dest, last.desc.MediaType, last.body)
		if err != nil {
			return err
		}
		how := ""
		if tagged {
			how = " (listed under the tag schema: the registry has no referrers API)"
		}
		o.sink.Emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("Referrer %s (%s) of %s%s", listed.Digest, listed.ArtifactType, r.Subject, how)})
		res.Referrers++
	}
	if truncated {
		o.sink.Emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf(
			"WARNING: more referrers than %d levels deep or %d in all: the rest were not sent", o.referrerDepth, o.maxReferrers)})
	}
	return nil
}

// referrers of a store: its entries naming each subject, read once.
type storeReferrers struct {
	names content.View
	once  sync.Once
	index map[digest.Digest][]ocispec.Descriptor
	err   error
}

func (s *storeReferrers) of(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	if s.names == nil {
		return nil, nil
	}
	s.once.Do(func() { s.index, s.err = graph.ReferrerIndex(ctx, s.names) })
	return s.index[subject], s.err
}

func (s storeSource) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	return s.refs.of(ctx, subject)
}

// Referrers lists subject's referrers at the first of the source's
// endpoints that answers.
func (s registrySource) Referrers(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	var err error
	for _, r := range s.refs {
		var list *registry.ReferrerList
		if list, err = s.c.Referrers(ctx, r.WithDigest(subject)); err == nil {
			return list.Manifests, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}
