package archive_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
)

// FuzzLoad feeds arbitrary bytes to Load. It must never panic, and an
// archive it accepts must leave names whose images read back complete.
func FuzzLoad(f *testing.F) {
	raw := layerTar(f, "f", "fuzz")
	cfg := configFor(f, digest.FromBytes(raw))
	f.Add(writeTar(f, []entry{
		{name: "manifest.json", body: mustJSON(f, []map[string]any{{"Config": "c.json", "RepoTags": []string{"f:1"}, "Layers": []string{"d/layer.tar"}}})},
		{name: "c.json", body: cfg},
		{name: "d/layer.tar", body: raw},
		{name: "e/layer.tar", typeflag: '2', link: "../d/layer.tar"},
	}))
	gz := gzipped(f, raw)
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz), Size: int64(len(gz))}
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m := mustJSON(f, ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "example.com/f:1"}}
	f.Add(writeTar(f, []entry{
		{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", body: mustJSON(f, ocispec.Index{Versioned: specsV2, Manifests: []ocispec.Descriptor{md}})},
		{name: "blobs/sha256/" + layer.Digest.Encoded(), body: gz},
		{name: "blobs/sha256/" + cd.Digest.Encoded(), body: cfg},
		{name: "blobs/sha256/" + md.Digest.Encoded(), body: m},
	}))
	f.Add([]byte("manifest.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := newStore(t)
		ctx := context.Background()
		loaded, err := archive.LoadImages(ctx, st, bytes.NewReader(data))
		if err != nil {
			for _, want := range []error{errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrDigestMismatch,
				errdefs.ErrSizeMismatch, errdefs.ErrTooLarge, errdefs.ErrUnsupported} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("error without a category: %v", err)
		}
		for _, l := range loaded {
			if l.Name == "" {
				continue
			}
			entry, err := st.Image(ctx, l.Name)
			if err != nil {
				t.Fatal(err)
			}
			img, err := image.Load(ctx, st, entry, nil)
			if err != nil {
				t.Fatalf("loaded %s does not read back: %v", l.Name, err)
			}
			if img.ID() != l.ID {
				t.Fatalf("%s: ID %s, reported %s", l.Name, img.ID(), l.ID)
			}
		}
	})
}
