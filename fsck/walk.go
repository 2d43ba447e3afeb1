package fsck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
)

// maxDepth bounds how deeply indexes may nest. Real images nest at most two
// levels (a wrapper index over a manifest list); the bound only keeps a
// hand-made store from sending the walk arbitrarily deep.
const maxDepth = 8

// fault is one reason an image's content is incomplete.
type fault struct {
	kind Kind
	// digest is the blob to blame, or "" when no single blob is (an
	// index none of whose manifests is present).
	digest digest.Digest
	detail string
}

// memoKey identifies the content below a descriptor: the same blob read as
// the same media type always has the same faults, so images sharing a
// manifest, config or index are walked once.
type memoKey struct {
	d         digest.Digest
	mediaType string
}

// unknownSize marks a descriptor whose size the referring document does not
// give (schema 1 fsLayers), so there is nothing to compare.
const unknownSize = -1

// walkImages walks every index.json entry and reports, for each, the blobs
// it needs that are missing or broken, and the name itself as dangling.
func (c *checker) walkImages(ctx context.Context) error {
	entries, err := c.st.Images(ctx)
	if err != nil {
		return fmt.Errorf("fsck %s: %w", c.st.Root(), err)
	}
	c.report.Images = len(entries)
	for _, e := range entries {
		name := e.Annotations[ocispec.AnnotationRefName]
		faults, err := c.need(ctx, e, "manifest named by index.json", 0)
		if err != nil {
			return err
		}
		if len(faults) == 0 {
			c.checkName(ctx, name, e)
			continue
		}
		for _, f := range faults {
			if f.digest == "" {
				continue
			}
			p := c.blobProblem(f.kind, f.digest, f.detail)
			if p.Name == "" {
				p.Name = name
			}
			if !slices.Contains(p.needers, name) {
				p.needers = append(p.needers, name)
			}
		}
		detail := "content incomplete: " + faults[0].detail
		if len(faults) > 1 {
			detail += fmt.Sprintf(" (and %d more)", len(faults)-1)
		}
		if name == "" {
			detail += "; the entry has no name, so repair cannot remove it"
		}
		c.add(&tracked{Problem: Problem{Kind: KindDanglingName, Digest: e.Digest, Name: name, Detail: detail},
			entry: e, removable: name != "" && !onlyUnreadable(faults)})
	}
	return nil
}

// checkName reports a name that pins a digest its intact content does not
// have, by the rule every command applies (image.CheckName).
func (c *checker) checkName(ctx context.Context, name string, e ocispec.Descriptor) {
	err := graph.CheckName(ctx, c.st, name, e)
	if name == "" || !errors.Is(err, errdefs.ErrDigestMismatch) {
		return
	}
	c.add(&tracked{Problem: Problem{Kind: KindMisnamed, Digest: e.Digest, Name: name, Detail: err.Error()},
		entry: e, removable: true})
}

// onlyUnreadable reports whether every fault is a blob that could not be
// read: its content may well be intact (a failing disk, a transient error),
// so the name is kept rather than thrown away on a guess.
func onlyUnreadable(faults []fault) bool {
	for _, f := range faults {
		if f.kind != KindUnreadableBlob {
			return false
		}
	}
	return true
}

// need checks that the blob desc points to is present and intact, then
// what it refers to. role says what the blob is to whoever needs it, for
// the messages.
func (c *checker) need(ctx context.Context, desc ocispec.Descriptor, role string, depth int) ([]fault, error) {
	if err := desc.Digest.Validate(); err != nil {
		return []fault{{kind: KindMissingBlob, detail: fmt.Sprintf("%s has an invalid digest %q", role, desc.Digest)}}, nil
	}
	st := c.blobs[desc.Digest]
	switch {
	case st == nil:
		return []fault{{KindMissingBlob, desc.Digest, role + " is not in the store"}}, nil
	case st.bad == KindCorruptBlob:
		return []fault{{KindCorruptBlob, desc.Digest, role + " is corrupt"}}, nil
	case st.bad != "":
		return []fault{{st.bad, desc.Digest, role + " cannot be read"}}, nil
	case desc.Size != unknownSize && desc.Size != st.size:
		return []fault{{KindSizeMismatch, desc.Digest,
			fmt.Sprintf("%s has %d bytes but its descriptor says %d", role, st.size, desc.Size)}}, nil
	}
	k := memoKey{desc.Digest, desc.MediaType}
	if f, ok := c.memo[k]; ok {
		return f, nil
	}
	f, err := c.content(ctx, desc, depth)
	if err != nil {
		return nil, err
	}
	c.memo[k] = f
	return f, nil
}

// content checks what an intact blob refers to: an index's manifests, an
// image manifest's config and layers. Blobs of other types (layers,
// artifacts) refer to nothing.
func (c *checker) content(ctx context.Context, desc ocispec.Descriptor, depth int) ([]fault, error) {
	mt := desc.MediaType
	isDoc := manifest.IsIndex(mt) || manifest.IsImage(mt) || manifest.IsSchema1(mt)
	if !isDoc && !manifest.IsConfig(mt) {
		return nil, nil
	}
	if depth >= maxDepth {
		return []fault{{KindUnreadableManifest, desc.Digest, fmt.Sprintf("index nested more than %d levels deep", maxDepth)}}, nil
	}
	body, err := c.st.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, errdefs.ErrNotFound):
		return []fault{{KindMissingBlob, desc.Digest, "deleted while fsck ran"}}, nil
	case errors.Is(err, errdefs.ErrDigestMismatch):
		return []fault{{KindCorruptBlob, desc.Digest, "changed while fsck ran: no longer hashes to its digest"}}, nil
	default:
		return []fault{{KindUnreadableManifest, desc.Digest, err.Error()}}, nil
	}
	if !isDoc {
		// Decoded as image.Load decodes it: a config that fails here makes
		// the image unusable for every command.
		var cfg ocispec.Image
		if err := json.Unmarshal(body, &cfg); err != nil {
			return []fault{{KindUnreadableManifest, desc.Digest, fmt.Sprintf("config does not parse: %v", err)}}, nil
		}
		return nil, nil
	}
	parsed, err := manifest.Parse(mt, body)
	switch {
	case errors.Is(err, errdefs.ErrUnsupported):
		// Valid content imagec does not interpret (an artifact, an
		// attestation, a layer type it cannot unpack): not a fault, and
		// nothing below it that fsck could judge.
		return nil, nil
	case err != nil:
		return []fault{{KindUnreadableManifest, desc.Digest, fmt.Sprintf("%s does not parse: %v", mt, err)}}, nil
	}
	switch {
	case parsed.Index != nil:
		return c.indexContent(ctx, desc.Digest, parsed.Index, depth)
	case parsed.Image != nil:
		return c.imageContent(ctx, desc.Digest, parsed.Image, depth)
	default:
		var faults []fault
		for _, l := range parsed.Schema1.FSLayers {
			f, err := c.need(ctx, ocispec.Descriptor{Digest: l.BlobSum, Size: unknownSize},
				"layer of schema 1 manifest "+desc.Digest.String(), depth+1)
			if err != nil {
				return nil, err
			}
			faults = append(faults, f...)
		}
		return faults, nil
	}
}

// indexContent checks the manifests of an index that the store holds.
// Absent ones are expected (a pull stores one platform), but an index with
// none of its platform manifests is an image nobody can use.
func (c *checker) indexContent(ctx context.Context, d digest.Digest, idx *ocispec.Index, depth int) ([]fault, error) {
	var faults []fault
	usable := 0
	for _, m := range idx.Manifests {
		if st := c.blobs[m.Digest]; st == nil || st.bad != "" {
			// Absent, or corrupt: the scan reports that, and repair
			// deletes it, after which it is as absent as the others.
			continue
		}
		f, err := c.need(ctx, m, fmt.Sprintf("manifest %s of index %s", m.Digest, d), depth+1)
		if err != nil {
			return nil, err
		}
		faults = append(faults, f...)
		if isPlatformManifest(m) {
			usable++
		}
	}
	if usable == 0 {
		faults = append(faults, fault{kind: KindMissingBlob,
			detail: fmt.Sprintf("none of the %d manifests of index %s is in the store", len(idx.Manifests), d)})
	}
	return faults, nil
}

// isPlatformManifest reports whether an index entry is one a pull could
// have chosen: a manifest or nested index, not an attestation (which
// buildkit marks with the platform unknown/unknown).
func isPlatformManifest(m ocispec.Descriptor) bool {
	if !manifest.IsImage(m.MediaType) && !manifest.IsIndex(m.MediaType) && !manifest.IsSchema1(m.MediaType) {
		return false
	}
	return m.Platform == nil || m.Platform.OS != "unknown"
}

// imageContent checks an image manifest's config and layers. Foreign layers
// may be absent: a pull records them without fetching them.
func (c *checker) imageContent(ctx context.Context, d digest.Digest, m *ocispec.Manifest, depth int) ([]fault, error) {
	faults, err := c.need(ctx, m.Config, "config of manifest "+d.String(), depth+1)
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if manifest.IsForeign(l.MediaType) {
			if st := c.blobs[l.Digest]; st == nil || st.bad != "" {
				continue // optional; a corrupt one is reported by the scan
			}
		}
		f, err := c.need(ctx, l, "layer of manifest "+d.String(), depth+1)
		if err != nil {
			return nil, err
		}
		faults = append(faults, f...)
	}
	return faults, nil
}
