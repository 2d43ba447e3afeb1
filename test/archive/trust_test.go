package archive_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
)

// ociImage is a small valid OCI image as archive entries, and its manifest
// descriptor.
func ociImage(t *testing.T, seed string) ([]entry, ocispec.Descriptor) {
	t.Helper()
	raw := layerTar(t, "f", seed)
	gz := gzipped(t, raw)
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz), Size: int64(len(gz))}
	cfg := configFor(t, digest.FromBytes(raw))
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m := mustJSON(t, ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	return []entry{
		{name: "blobs/sha256/" + layer.Digest.Encoded(), body: gz},
		{name: "blobs/sha256/" + cd.Digest.Encoded(), body: cfg},
		{name: "blobs/sha256/" + md.Digest.Encoded(), body: m},
	}, md
}

func ociArchive(t *testing.T, blobs []entry, index ...ocispec.Descriptor) []byte {
	t.Helper()
	return writeTar(t, append([]entry{
		{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", body: mustJSON(t, ocispec.Index{Versioned: specsV2, Manifests: index})},
	}, blobs...))
}

// Item 1: an entry named repo@<the real image's digest> whose descriptor
// is another manifest is refused, and nothing is named.
func TestLoadRefusesNamePinningOtherDigest(t *testing.T) {
	t.Parallel()
	_, real := ociImage(t, "real")
	blobs, evil := ociImage(t, "evil")
	named := evil
	named.Annotations = map[string]string{ocispec.AnnotationRefName: "registry.example/repo@" + real.Digest.String()}
	// A correctly named second entry must not be recorded either.
	ok := evil
	ok.Annotations = map[string]string{ocispec.AnnotationRefName: "registry.example/repo:fine"}
	st := newStore(t)
	_, err := archive.Load(context.Background(), st, bytes.NewReader(ociArchive(t, blobs, ok, named)))
	wantErr(t, err, errdefs.ErrDigestMismatch, "load")
	if n := names(t, st); len(n) != 0 {
		t.Fatalf("names recorded: %v", n)
	}
	// Named by its own digest, it loads.
	named.Annotations[ocispec.AnnotationRefName] = "registry.example/repo@" + evil.Digest.String()
	if _, err := archive.Load(context.Background(), st, bytes.NewReader(ociArchive(t, blobs, named))); err != nil {
		t.Fatal(err)
	}
}

// Item 2: imagec's own annotations in an archive's index.json are not
// imported, and decide nothing.
func TestLoadDropsImagecAnnotations(t *testing.T) {
	t.Parallel()
	_, real := ociImage(t, "real")
	blobs, evil := ociImage(t, "evil")
	evil.Annotations = map[string]string{
		ocispec.AnnotationRefName:    "registry.example/repo:v1",
		graph.AnnotationSourceDigest: real.Digest.String(),
		graph.AnnotationSourceBlob:   real.Digest.String(),
		"org.example.kept":           "yes",
	}
	st := newStore(t)
	if _, err := archive.Load(context.Background(), st, bytes.NewReader(ociArchive(t, blobs, evil))); err != nil {
		t.Fatal(err)
	}
	img := loadImage(t, st, "registry.example/repo:v1")
	if img.RepoDigest() != evil.Digest {
		t.Errorf("repo digest %s, want the loaded manifest's %s", img.RepoDigest(), evil.Digest)
	}
	for k := range img.Entry.Annotations {
		if k == graph.AnnotationSourceDigest || k == graph.AnnotationSourceBlob {
			t.Errorf("annotation %s imported", k)
		}
	}
	if img.Entry.Annotations["org.example.kept"] != "yes" {
		t.Errorf("other annotations lost: %v", img.Entry.Annotations)
	}
}

// Item 9: every descriptor's size is checked against the bytes, the
// index.json entry's first.
func TestLoadRefusesLyingSizes(t *testing.T) {
	t.Parallel()
	blobs, md := ociImage(t, "sizes")
	md.Annotations = map[string]string{ocispec.AnnotationRefName: "registry.example/repo:v1"}
	for _, delta := range []int64{-1, 1, 1000} {
		lie := md
		lie.Size += delta
		st := newStore(t)
		_, err := archive.Load(context.Background(), st, bytes.NewReader(ociArchive(t, blobs, lie)))
		wantErr(t, err, errdefs.ErrSizeMismatch, "load")
		if n := names(t, st); len(n) != 0 {
			t.Fatalf("names recorded: %v", n)
		}
	}
}

// A manifest whose layer descriptor states the wrong size is refused too.
func TestLoadRefusesLyingLayerSize(t *testing.T) {
	t.Parallel()
	raw := layerTar(t, "f", "layer")
	gz := gzipped(t, raw)
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz), Size: int64(len(gz)) - 1}
	cfg := configFor(t, digest.FromBytes(raw))
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m := mustJSON(t, ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "registry.example/repo:v1"}}
	st := newStore(t)
	_, err := archive.Load(context.Background(), st, bytes.NewReader(ociArchive(t, []entry{
		{name: "blobs/sha256/" + layer.Digest.Encoded(), body: gz},
		{name: "blobs/sha256/" + cd.Digest.Encoded(), body: cfg},
		{name: "blobs/sha256/" + md.Digest.Encoded(), body: m},
	}, md)))
	wantErr(t, err, errdefs.ErrSizeMismatch, "load")
	if n := names(t, st); len(n) != 0 {
		t.Fatalf("names recorded: %v", n)
	}
}
