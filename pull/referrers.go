package pull

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
)

// WithReferrers also pulls the image's referrers (signatures, SBOMs,
// attestations: manifests whose subject is the image's top document or its
// platform manifest) and theirs in turn, at most depth levels deep and max
// manifests in all (0: graph.DefaultReferrerDepth, DefaultMaxReferrers),
// each with its blobs, after the image is recorded. Each is stored attached
// to its subject (content.Attacher): unnamed, and kept exactly as long as
// the image. Default: none.
func WithReferrers(depth, max int) PullOption {
	return func(o *pullOptions) {
		o.referrerDepth, o.maxReferrers = graph.ReferrerBounds(depth, max)
	}
}

// pullReferrers fetches the referrers of the image res describes, from the
// endpoint its manifest came from.
func (j *job) pullReferrers(ctx context.Context, res *Result) error {
	if j.opts.referrerDepth == 0 {
		return nil
	}
	roots := []digest.Digest{res.Digest}
	if res.Manifest.Digest != "" && res.Manifest.Digest != res.Digest {
		roots = append(roots, res.Manifest.Digest)
	}
	src := j.source()
	list := func(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
		l, err := j.client.Referrers(ctx, src.WithDigest(subject))
		if err != nil {
			return nil, err
		}
		return l.Manifests, nil
	}
	found, truncated, err := graph.WalkReferrers(ctx, list, roots, j.opts.referrerDepth, j.opts.maxReferrers)
	if err != nil {
		return fmt.Errorf("referrers: %w", err)
	}
	for _, r := range found {
		if err := j.pullReferrer(ctx, r); err != nil {
			return fmt.Errorf("referrer %s of %s: %w", r.Desc.Digest, r.Subject, err)
		}
	}
	if truncated {
		j.emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf(
			"WARNING: more referrers than %d levels deep or %d in all: the rest were not pulled", j.opts.referrerDepth, j.opts.maxReferrers)})
	}
	return nil
}

// pullReferrer fetches one referrer manifest (verified by digest), its
// config and layers, and attaches it. A listed manifest whose own subject
// is not the one it was listed for (a tag schema index is anyone's to
// write) is skipped.
func (j *job) pullReferrer(ctx context.Context, r graph.FoundReferrer) error {
	m, err := j.client.GetManifest(ctx, j.source().WithDigest(r.Desc.Digest), []string{ocispec.MediaTypeImageManifest})
	if err != nil {
		return err
	}
	if err := m.Verify(r.Desc.Digest); err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: r.Desc.Digest, Size: int64(len(m.Body))}
	ref, ok, err := manifest.ReadReferrer(desc, m.Body)
	if err != nil {
		return err
	}
	if !ok || ref.Subject.Digest != r.Subject {
		j.emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("WARNING: %s is listed as a referrer of %s but does not name it: skipped", r.Desc.Digest, r.Subject)})
		return nil
	}
	children, _, err := graph.References(desc, m.Body)
	if err != nil {
		return err
	}
	for _, c := range children {
		if !j.p.store.Has(ctx, c.Desc) {
			if err := j.fetchBlob(ctx, c.Desc, progress.ShortID(c.Desc.Digest.String()), j.emit); err != nil {
				return err
			}
		}
	}
	if err := j.p.store.WriteBlob(ctx, desc, m.Body); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
		return err
	}
	if err := j.p.store.Attach(ctx, desc); err != nil {
		return err
	}
	j.emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("Referrer %s (%s) of %s", r.Desc.Digest, ref.Listed.ArtifactType, r.Subject)})
	return nil
}
