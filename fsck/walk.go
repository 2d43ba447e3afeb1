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

// fault is one reason an image's content is incomplete.
type fault struct {
	kind Kind
	// digest is the blob to blame, or "" when no single blob is (an
	// index none of whose manifests is present).
	digest digest.Digest
	detail string
}

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
		faults, err := c.faultsOf(ctx, e)
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

// faultsOf walks the content entry names and returns what makes it
// incomplete.
func (c *checker) faultsOf(ctx context.Context, e ocispec.Descriptor) ([]fault, error) {
	var faults []fault
	err := graph.Walk(ctx, c.st, e, func(ctx context.Context, n graph.Node) (bool, error) {
		f, descend := c.judge(ctx, n)
		faults = append(faults, f...)
		return descend, nil
	})
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return faults, err
}

// judge checks one node of an image's graph against what the blob scan
// found, and says whether what it refers to is worth checking too.
func (c *checker) judge(ctx context.Context, n graph.Node) ([]fault, bool) {
	d, role := n.Desc.Digest, roleOf(n)
	if err := d.Validate(); err != nil {
		return []fault{{kind: KindMissingBlob, detail: fmt.Sprintf("%s has an invalid digest %q", role, d)}}, false
	}
	st := c.blobs[d]
	switch {
	case (st == nil || st.bad != "") && n.Optional():
		// Absent where a pull may leave it out (another platform, a
		// foreign layer); a corrupt one is reported by the scan, and
		// repair deletes it, after which it is as absent as the others.
		return nil, false
	case st == nil:
		return []fault{{KindMissingBlob, d, role + " is not in the store"}}, false
	case st.bad == KindCorruptBlob:
		return []fault{{KindCorruptBlob, d, role + " is corrupt"}}, false
	case st.bad != "":
		return []fault{{st.bad, d, role + " cannot be read"}}, false
	case n.Desc.Size != graph.UnknownSize && n.Desc.Size != st.size:
		return []fault{{KindSizeMismatch, d, fmt.Sprintf("%s has %d bytes but its descriptor says %d", role, st.size, n.Desc.Size)}}, false
	case n.Err != nil:
		return []fault{documentFault(d, n.Desc.MediaType, n.Err)}, false
	case n.Role == graph.RoleConfig:
		return c.checkConfig(ctx, d), false
	case n.IsArtifact():
		// Valid content imagec does not interpret: nothing below it that
		// fsck could judge.
		return nil, false
	case n.Doc != nil && n.Doc.Index != nil:
		return c.checkIndex(d, n.Doc.Index), true
	}
	return nil, true
}

// roleOf says what a node's blob is to the image, for messages.
func roleOf(n graph.Node) string {
	switch n.Role {
	case graph.RoleRoot:
		return "manifest named by index.json"
	case graph.RoleManifest:
		return fmt.Sprintf("manifest %s of index %s", n.Desc.Digest, n.Parent)
	case graph.RoleConfig:
		return "config of manifest " + n.Parent.String()
	case graph.RoleLayer:
		if n.Desc.Size == graph.UnknownSize {
			return "layer of schema 1 manifest " + n.Parent.String()
		}
		return "layer of manifest " + n.Parent.String()
	}
	return "source document of index " + n.Parent.String()
}

// documentFault describes a stored document the walk could not use.
func documentFault(d digest.Digest, mediaType string, err error) fault {
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return fault{KindMissingBlob, d, "deleted while fsck ran"}
	case errors.Is(err, errdefs.ErrDigestMismatch):
		return fault{KindCorruptBlob, d, "changed while fsck ran: no longer hashes to its digest"}
	case errors.Is(err, errdefs.ErrUnsupported):
		return fault{KindUnreadableManifest, d, err.Error()}
	}
	if mediaType == "" {
		mediaType = "document"
	}
	return fault{KindUnreadableManifest, d, fmt.Sprintf("%s does not parse: %v", mediaType, err)}
}

// checkConfig decodes a config as image.Load does: a config that fails here
// makes the image unusable for every command.
func (c *checker) checkConfig(ctx context.Context, d digest.Digest) []fault {
	body, err := c.st.ReadBlob(ctx, d, manifest.MaxSize)
	if err != nil {
		return []fault{documentFault(d, "config", err)}
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(body, &cfg); err != nil {
		return []fault{{KindUnreadableManifest, d, fmt.Sprintf("config does not parse: %v", err)}}
	}
	return nil
}

// checkIndex faults an index none of whose platform manifests the store
// holds: absent ones are expected (a pull stores one platform), but an
// image nobody can use is not.
func (c *checker) checkIndex(d digest.Digest, idx *ocispec.Index) []fault {
	for _, m := range idx.Manifests {
		if st := c.blobs[m.Digest]; st != nil && st.bad == "" && isPlatformManifest(m) {
			return nil
		}
	}
	return []fault{{kind: KindMissingBlob,
		detail: fmt.Sprintf("none of the %d manifests of index %s is in the store", len(idx.Manifests), d)}}
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
