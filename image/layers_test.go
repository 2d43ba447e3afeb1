package image

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestLayersPairHistoryWithoutEmptyEntries(t *testing.T) {
	t.Parallel()
	l1, l2 := digest.FromString("l1"), digest.FromString("l2")
	d1, d2 := digest.FromString("d1"), digest.FromString("d2")
	img := &Image{
		Manifest: ocispec.Manifest{Layers: []ocispec.Descriptor{{Digest: l1, Size: 10}, {Digest: l2, Size: 20}}},
		Config: ocispec.Image{
			RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{d1, d2}},
			History: []ocispec.History{
				{CreatedBy: "ADD rootfs"},
				{CreatedBy: "ENV A=b", EmptyLayer: true},
				{CreatedBy: "RUN make"},
			},
		},
	}
	got := img.Layers()
	if len(got) != 2 || got[0].DiffID != d1 || got[1].DiffID != d2 || got[0].CreatedBy != "ADD rootfs" || got[1].CreatedBy != "RUN make" {
		t.Fatalf("layers %+v", got)
	}
	if img.Size() != 30 {
		t.Fatalf("size %d", img.Size())
	}

	// History that does not line up is not guessed at.
	img.Config.History = img.Config.History[:1]
	if got := img.Layers(); got[0].CreatedBy != "" || got[1].CreatedBy != "" {
		t.Fatalf("misaligned history attributed: %+v", got)
	}
}
