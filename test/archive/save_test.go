package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/manifest"
)

// TestSaveLoadRoundTrip saves pulled images of every kind in both formats
// and loads them into a fresh store: same names, same image IDs, a store
// fsck finds clean; an OCI archive also keeps the very same entries.
func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	p := newPuller(t)
	var all []string
	kinds := []struct {
		repoTag string
		f       fixtures.Format
		c       fixtures.Compression
	}{
		{"rt/docker:gzip", fixtures.Docker, fixtures.Gzip},
		{"rt/docker:plain", fixtures.Docker, fixtures.Uncompressed},
		{"rt/oci:gzip", fixtures.OCI, fixtures.Gzip},
		{"rt/oci:zstd", fixtures.OCI, fixtures.Zstd},
	}
	for i, k := range kinds {
		all = append(all, p.image(t, k.repoTag, fixture(t, int64(10+i), 2, k.f, k.c)))
	}
	// A multi-platform index of which one platform is pulled.
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	a, err := fixtures.NewImage(20, 1, 4<<10, fixtures.OCI, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fixtures.NewImage(21, 1, 4<<10, fixtures.OCI, fixtures.Gzip, arm)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := fixtures.NewIndex(fixtures.OCI, a, b)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, p.index(t, "rt/multi:latest", idx))
	// A digest reference names an image too.
	byDigest := p.reg.Host + "/rt/docker@" + fixture(t, 10, 2, fixtures.Docker, fixtures.Gzip).ManifestDesc.Digest.String()
	p.pull(t, strings.TrimPrefix(byDigest, p.reg.Host+"/"))
	all = append(all, byDigest)

	for _, f := range []archive.Format{archive.FormatDocker, archive.FormatOCI} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			data := save(t, p.st, f, all...)
			dst := newStore(t)
			got, err := archive.Load(context.Background(), dst, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			want := all
			if f == archive.FormatDocker {
				want = all[:len(all)-1] // a docker-archive has tags only
			}
			if !slices.Equal(got, want) {
				t.Fatalf("loaded %v, want %v", got, want)
			}
			for _, name := range want {
				if a, b := imageID(t, p.st, name), imageID(t, dst, name); a != b {
					t.Errorf("%s: image ID %s after the round trip, %s before", name, b, a)
				}
				if f == archive.FormatOCI {
					src, _ := p.st.Image(context.Background(), name)
					got, _ := dst.Image(context.Background(), name)
					if got.Digest != src.Digest || got.Annotations["io.imagec.source.digest"] != src.Annotations["io.imagec.source.digest"] {
						t.Errorf("%s: entry %+v, want %+v", name, got, src)
					}
				}
			}
			assertClean(t, dst)
			// Loading again changes nothing and still succeeds.
			again, err := archive.Load(context.Background(), dst, bytes.NewReader(data))
			if err != nil || !slices.Equal(again, want) {
				t.Fatalf("second load: %v %v", again, err)
			}
		})
	}
}

// TestSaveDockerArchiveLayout checks the docker-archive against what docker
// save writes: manifest.json first, familiar RepoTags grouped by image,
// blobs/sha256 paths, the repositories file, and every shared blob once.
func TestSaveDockerArchiveLayout(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	base, mid := layerTar(t, "base", "base layer"), layerTar(t, "mid", "middle")
	id1 := storeImage(t, st, "docker.io/library/app:1", base, mid, layerTar(t, "one", "first app"))
	id2 := storeImage(t, st, "docker.io/library/app:2", base, mid, layerTar(t, "two", "second app"))
	storeImage(t, st, "registry.example/team/app:1", base, mid, layerTar(t, "one", "first app"))
	byDigest := storeImageByDigest(t, st, "docker.io/library/app", base)

	data := save(t, st, archive.FormatDocker, "docker.io/library/app:1", "docker.io/library/app:2",
		"registry.example/team/app:1", byDigest)
	entries := readTar(t, data)
	if entries[0].name != "manifest.json" {
		t.Fatalf("first entry %s, want manifest.json", entries[0].name)
	}
	var files []string
	for _, e := range entries {
		if e.typeflag == 0 || e.typeflag == '0' {
			files = append(files, e.name)
		}
	}
	sorted := slices.Clone(files)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(files) {
		t.Fatalf("a file is written twice: %v", files)
	}
	// 4 distinct layers, 3 configs (app:1 and team/app:1 are one image),
	// manifest.json and repositories.
	if len(files) != 4+3+2 {
		t.Fatalf("archive files %v", files)
	}
	var m []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(fileOf(t, entries, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m[0].Config != "blobs/sha256/"+id1.Encoded() || m[1].Config != "blobs/sha256/"+id2.Encoded() ||
		!slices.Equal(m[0].RepoTags, []string{"app:1", "registry.example/team/app:1"}) || len(m[2].RepoTags) != 0 ||
		len(m[0].Layers) != 3 || m[0].Layers[0] != m[1].Layers[0] || !strings.HasPrefix(m[0].Layers[0], "blobs/sha256/") {
		t.Fatalf("manifest.json: %+v", m)
	}
	var repos map[string]map[string]string
	if err := json.Unmarshal(fileOf(t, entries, "repositories"), &repos); err != nil {
		t.Fatal(err)
	}
	if repos["app"]["2"] != strings.TrimPrefix(m[1].Layers[2], "blobs/sha256/") || repos["registry.example/team/app"]["1"] == "" {
		t.Fatalf("repositories: %v", repos)
	}
	// Saving the same images twice gives the same bytes.
	if again := save(t, st, archive.FormatDocker, "docker.io/library/app:1", "docker.io/library/app:2",
		"registry.example/team/app:1", byDigest); !bytes.Equal(again, data) {
		t.Fatal("two saves of the same images differ")
	}
}

func TestSaveOCISharedBlobsOnce(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	base := layerTar(t, "base", "base layer")
	storeImage(t, st, "docker.io/library/a:1", base, layerTar(t, "a", "a"))
	storeImage(t, st, "docker.io/library/b:1", base, layerTar(t, "b", "b"))
	entries := readTar(t, save(t, st, archive.FormatOCI, "docker.io/library/a:1", "docker.io/library/b:1", "docker.io/library/a:1"))
	if entries[0].name != "oci-layout" || entries[1].name != "index.json" {
		t.Fatalf("archive starts with %s, %s", entries[0].name, entries[1].name)
	}
	seen := map[string]bool{}
	blobs := 0
	for _, e := range entries {
		if strings.HasPrefix(e.name, "blobs/sha256/") && e.typeflag == '0' {
			if seen[e.name] {
				t.Fatalf("%s written twice", e.name)
			}
			seen[e.name] = true
			blobs++
			if digest.FromBytes(e.body).Encoded() != strings.TrimPrefix(e.name, "blobs/sha256/") {
				t.Fatalf("%s holds other content", e.name)
			}
		}
	}
	// Per image: wrapper index, manifest, config, own layer; one shared layer.
	if blobs != 2*4+1 {
		t.Fatalf("%d blobs in the archive, want 9", blobs)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(fileOf(t, entries, "index.json"), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 2 || idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "docker.io/library/a:1" {
		t.Fatalf("index.json: %+v", idx)
	}
}

func TestSaveRefuses(t *testing.T) {
	t.Parallel()
	p := newPuller(t)
	foreign, err := fixtures.ForeignLayerImage(30, 1, 4<<10, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	name := p.image(t, "save/foreign:1", foreign)
	hello := p.image(t, "save/hello:1", fixture(t, 31, 1, fixtures.Docker, fixtures.Gzip))
	// A blob that rotted on disk is not copied into an archive.
	rotten := loadImage(t, p.st, hello).Manifest.Layers[0]
	if err := corruptBlob(p.st.Path(rotten.Digest)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		format archive.Format
		names  []string
		want   error
	}{
		{"no names", archive.FormatDocker, nil, errdefs.ErrInvalidArgument},
		{"unknown format", "tar", []string{name}, errdefs.ErrInvalidArgument},
		{"unknown image", archive.FormatDocker, []string{"docker.io/library/none:1"}, errdefs.ErrNotFound},
		{"foreign layer not downloaded", archive.FormatDocker, []string{name}, errdefs.ErrNotFound},
		{"corrupt blob", archive.FormatOCI, []string{hello}, errdefs.ErrDigestMismatch},
		{"corrupt blob docker", archive.FormatDocker, []string{hello}, errdefs.ErrDigestMismatch},
	}
	for _, tc := range cases {
		err := archive.Save(context.Background(), p.st, &bytes.Buffer{}, tc.format, tc.names)
		wantErr(t, err, tc.want, tc.name)
	}
	// An OCI archive records the foreign layer as the store does: by its
	// descriptor only.
	data := save(t, p.st, archive.FormatOCI, name)
	dst := newStore(t)
	if _, err := archive.Load(context.Background(), dst, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if imageID(t, dst, name) != foreign.ConfigDesc.Digest {
		t.Fatal("foreign-layer image changed ID")
	}
}

// TestForeignLayerRoundTrip saves a downloaded foreign layer in a
// docker-archive with its LayerSources entry, which load turns back into the
// foreign descriptor.
func TestForeignLayerRoundTrip(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	const url = "https://example.com/layer.tar.gz"
	name := "docker.io/library/win:1"
	id := storeImageWith(t, st, name, func(i int, d *ocispec.Descriptor) {
		if i == 1 {
			d.MediaType, d.URLs = manifest.MediaTypeDockerForeignLayer, []string{url}
		}
	}, layerTar(t, "a", "a"), layerTar(t, "b", "foreign"))
	entries := readTar(t, save(t, st, archive.FormatDocker, name))
	var m []struct {
		LayerSources map[digest.Digest]ocispec.Descriptor
	}
	if err := json.Unmarshal(fileOf(t, entries, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].LayerSources) != 1 {
		t.Fatalf("LayerSources: %+v", m)
	}
	dst := newStore(t)
	if _, err := archive.Load(context.Background(), dst, bytes.NewReader(writeTar(t, entries))); err != nil {
		t.Fatal(err)
	}
	img := loadImage(t, dst, name)
	if img.ID() != id || img.Manifest.Layers[1].MediaType != manifest.MediaTypeDockerForeignLayer ||
		!slices.Equal(img.Manifest.Layers[1].URLs, []string{url}) || img.Manifest.Layers[0].MediaType != manifest.MediaTypeDockerLayer {
		t.Fatalf("loaded layers %+v", img.Manifest.Layers)
	}
}
