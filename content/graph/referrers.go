package graph

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/manifest"
)

// Referrers lists the stored documents reachable from roots whose subject
// is subject, as the OCI distribution API's referrers endpoint describes
// them: media type, digest and size of the referrer, its artifact type (the
// artifactType field, else an image manifest's config media type) and its
// annotations. With artifactType set, only referrers of that type are
// listed. The list is ordered by digest, so the same store always answers
// the same; a document that does not verify or decode is skipped, as the
// walk reports it elsewhere (fsck).
//
// Referrers are found by walking, not looked up in a separate index: the
// store keeps a document only while a name reaches it, so a referrer a
// store holds is one a name (its own, or an index's) keeps.
func Referrers(ctx context.Context, p content.Provider, roots []ocispec.Descriptor, subject digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	w := NewWalker(p)
	var out []ocispec.Descriptor
	for _, root := range roots {
		err := w.Walk(ctx, root, func(_ context.Context, n Node) (bool, error) {
			if n.Body == nil || n.Err != nil {
				return true, nil
			}
			if d, ok := referrer(n.Desc, n.Body, subject); ok && (artifactType == "" || d.ArtifactType == artifactType) {
				out = append(out, d)
			}
			return true, nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b ocispec.Descriptor) int {
		switch {
		case a.Digest < b.Digest:
			return -1
		case a.Digest > b.Digest:
			return 1
		}
		return 0
	})
	return out, nil
}

// referrer reports whether body (the verified document desc describes)
// names subject as its subject, and describes it for a referrers list.
func referrer(desc ocispec.Descriptor, body []byte, subject digest.Digest) (ocispec.Descriptor, bool) {
	var doc struct {
		MediaType    string              `json:"mediaType"`
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Subject == nil || doc.Subject.Digest != subject {
		return ocispec.Descriptor{}, false
	}
	mediaType := doc.MediaType
	if mediaType == "" {
		mediaType = desc.MediaType
	}
	if !manifest.IsIndex(mediaType) && !manifest.IsImage(mediaType) {
		return ocispec.Descriptor{}, false // only manifests and indexes refer
	}
	artifactType := doc.ArtifactType
	if artifactType == "" && doc.Config != nil && manifest.IsImage(mediaType) {
		artifactType = doc.Config.MediaType
	}
	return ocispec.Descriptor{
		MediaType:    mediaType,
		ArtifactType: artifactType,
		Digest:       desc.Digest,
		Size:         int64(len(body)),
		Annotations:  doc.Annotations,
	}, true
}
