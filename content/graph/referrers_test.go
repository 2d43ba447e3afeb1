package graph

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A walk goes breadth first, each referrer after its subject, once each,
// and says when a bound cut it short.
func TestWalkReferrers(t *testing.T) {
	t.Parallel()
	d := func(s string) digest.Digest { return digest.FromString(s) }
	graph := map[digest.Digest][]digest.Digest{
		d("image"):    {d("sig"), d("sbom")},
		d("sbom"):     {d("sbom-sig"), d("sig")}, // sig again: visited once
		d("sbom-sig"): {d("deep")},
	}
	list := func(_ context.Context, s digest.Digest) ([]ocispec.Descriptor, error) {
		var out []ocispec.Descriptor
		for _, r := range graph[s] {
			out = append(out, ocispec.Descriptor{Digest: r})
		}
		return out, nil
	}
	found, truncated, err := WalkReferrers(context.Background(), list, []digest.Digest{d("image")}, 2, 10)
	if err != nil || !truncated || len(found) != 3 {
		t.Fatalf("depth 2: %d found, truncated %v, %v", len(found), truncated, err)
	}
	if found[0].Desc.Digest != d("sig") || found[2].Desc.Digest != d("sbom-sig") || found[2].Subject != d("sbom") || found[2].Depth != 2 {
		t.Fatalf("order: %+v", found)
	}
	if found, truncated, _ = WalkReferrers(context.Background(), list, []digest.Digest{d("image")}, 3, 10); truncated || len(found) != 4 {
		t.Fatalf("depth 3: %d found, truncated %v", len(found), truncated)
	}
	if found, truncated, _ = WalkReferrers(context.Background(), list, []digest.Digest{d("image")}, 8, 2); !truncated || len(found) != 2 {
		t.Fatalf("max 2: %d found, truncated %v", len(found), truncated)
	}
}
