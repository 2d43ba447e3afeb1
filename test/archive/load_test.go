package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/fsck"
	"github.com/imagec/imagec/manifest"
)

// legacyArchive is what docker save wrote before version 25: uncompressed
// layers as <v1 id>/layer.tar, a layer two images share written once and
// symlinked, configs as <id>.json, manifest.json last.
type legacyArchive struct {
	base, app1, app2 []byte
	id1, id2         digest.Digest
	entries          []entry
}

func newLegacyArchive(t *testing.T) *legacyArchive {
	t.Helper()
	a := &legacyArchive{base: layerTar(t, "base", "base"), app1: layerTar(t, "app", "one"), app2: layerTar(t, "app", "two")}
	cfg1 := configFor(t, digest.FromBytes(a.base), digest.FromBytes(a.app1))
	cfg2 := configFor(t, digest.FromBytes(a.base), digest.FromBytes(a.app2))
	a.id1, a.id2 = digest.FromBytes(cfg1), digest.FromBytes(cfg2)
	v1 := func(n int) string { return strings.Repeat(string(rune('a'+n)), 64) }
	a.entries = []entry{
		{name: v1(0) + "/", typeflag: '5'},
		{name: v1(0) + "/VERSION", body: []byte("1.0")},
		{name: v1(0) + "/json", body: []byte(`{"id":"` + v1(0) + `"}`)},
		{name: v1(0) + "/layer.tar", body: a.base},
		{name: v1(1) + "/layer.tar", body: a.app1},
		{name: v1(2) + "/layer.tar", typeflag: '2', link: "../" + v1(0) + "/layer.tar"},
		{name: v1(3) + "/layer.tar", body: a.app2},
		{name: a.id1.Encoded() + ".json", body: cfg1},
		{name: a.id2.Encoded() + ".json", body: cfg2},
		{name: "repositories", body: []byte(`{"legacy":{"1":"` + v1(1) + `"}}`)},
		{name: "manifest.json", body: mustJSON(t, []map[string]any{
			{"Config": a.id1.Encoded() + ".json", "RepoTags": []string{"legacy:1", "localhost:5000/legacy:1"}, "Layers": []string{v1(0) + "/layer.tar", v1(1) + "/layer.tar"}},
			{"Config": a.id2.Encoded() + ".json", "RepoTags": nil, "Layers": []string{v1(2) + "/layer.tar", v1(3) + "/layer.tar"}},
		})},
	}
	return a
}

func TestLoadLegacyDockerArchive(t *testing.T) {
	t.Parallel()
	a := newLegacyArchive(t)
	st := newStore(t)
	loaded, err := archive.LoadImages(context.Background(), st, bytes.NewReader(writeTar(t, a.entries)))
	if err != nil {
		t.Fatal(err)
	}
	want := []archive.Loaded{
		{Name: "docker.io/library/legacy:1", ID: a.id1},
		{Name: "localhost:5000/legacy:1", ID: a.id1},
		{ID: a.id2},
	}
	if len(loaded) != len(want) {
		t.Fatalf("loaded %+v", loaded)
	}
	for i := range want {
		if loaded[i].Name != want[i].Name || loaded[i].ID != want[i].ID {
			t.Fatalf("loaded[%d] = %+v, want %+v", i, loaded[i], want[i])
		}
	}
	img := loadImage(t, st, "docker.io/library/legacy:1")
	// Uncompressed layers are stored as they are: the blob is the diffID.
	for i, l := range img.Manifest.Layers {
		if l.MediaType != "application/vnd.docker.image.rootfs.diff.tar" || l.Digest != img.Config.RootFS.DiffIDs[i] {
			t.Fatalf("layer %d: %+v", i, l)
		}
	}
	if img.ManifestDesc.MediaType != manifest.MediaTypeDockerManifest || img.Entry.MediaType != ocispec.MediaTypeImageIndex ||
		img.RepoDigest() != img.ManifestDesc.Digest || img.ManifestDesc.Platform == nil || img.ManifestDesc.Platform.Architecture != "amd64" {
		t.Fatalf("recorded as %+v / %+v", img.Entry, img.ManifestDesc)
	}
	// The untagged image's blobs are there, through the symlinked layer.
	if _, err := st.Info(context.Background(), a.id2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Info(context.Background(), digest.FromBytes(a.app2)); err != nil {
		t.Fatal(err)
	}
	assertClean(t, st)

	// The same archive compressed as a whole, as "docker save | gzip" makes.
	st = newStore(t)
	got, err := archive.Load(context.Background(), st, bytes.NewReader(gzipped(t, writeTar(t, a.entries))))
	if err != nil || !slices.Equal(got, []string{"docker.io/library/legacy:1", "localhost:5000/legacy:1"}) {
		t.Fatalf("gzip-compressed archive: %v %v", got, err)
	}
}

// TestLoadCompressedLayerFiles loads docker-archives whose layer files are
// compressed, as go-containerregistry and imagec write them: gzip layers
// keep the Docker types, zstd makes the image an OCI one.
func TestLoadCompressedLayerFiles(t *testing.T) {
	t.Parallel()
	raw := layerTar(t, "f", "compressed layer")
	var zbuf bytes.Buffer
	zw, err := zstd.NewWriter(&zbuf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	cfg := configFor(t, digest.FromBytes(raw))
	cases := []struct {
		name, config, file string
		data               []byte
		manifest           string
		layer              string
	}{
		// go-containerregistry (crane) names files this way.
		{"gzip", digest.FromBytes(cfg).String(), digest.FromBytes(raw).Encoded() + ".tar.gz", gzipped(t, raw), manifest.MediaTypeDockerManifest, manifest.MediaTypeDockerLayer},
		{"zstd", "config.json", "layer.tar.zst", zbuf.Bytes(), ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageLayerZstd},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			_, err := archive.Load(context.Background(), st, bytes.NewReader(writeTar(t, []entry{
				{name: "manifest.json", body: mustJSON(t, []map[string]any{{"Config": tc.config, "RepoTags": []string{"c:1"}, "Layers": []string{tc.file}}})},
				{name: tc.config, body: cfg},
				{name: tc.file, body: tc.data},
			})))
			if err != nil {
				t.Fatal(err)
			}
			img := loadImage(t, st, "docker.io/library/c:1")
			if img.ID() != digest.FromBytes(cfg) || img.ManifestDesc.MediaType != tc.manifest ||
				img.Manifest.Layers[0].MediaType != tc.layer || img.Manifest.Layers[0].Digest != digest.FromBytes(tc.data) {
				t.Fatalf("loaded %+v with layers %+v", img.ManifestDesc, img.Manifest.Layers)
			}
			assertClean(t, st)
		})
	}
}

// TestLoadCorruptArchive damages one file of otherwise good archives: the
// load fails with ErrDigestMismatch, records no name and commits nothing
// under the damaged digest.
func TestLoadCorruptArchive(t *testing.T) {
	t.Parallel()
	src := newStore(t)
	name := "docker.io/library/good:1"
	storeImage(t, src, name, layerTar(t, "a", strings.Repeat("a", 4096)), layerTar(t, "b", "b"))
	img := loadImage(t, src, name)
	layer := "blobs/sha256/" + img.Manifest.Layers[0].Digest.Encoded()
	config := "blobs/sha256/" + img.ID().Encoded()
	legacy := newLegacyArchive(t)

	flip := func(b []byte) []byte { b = slices.Clone(b); b[len(b)/2] ^= 0x01; return b }
	cases := []struct {
		name    string
		entries []entry
		damage  string
	}{
		{"docker layer blob", readTar(t, save(t, src, archive.FormatDocker, name)), layer},
		{"docker config blob", readTar(t, save(t, src, archive.FormatDocker, name)), config},
		{"oci layer blob", readTar(t, save(t, src, archive.FormatOCI, name)), layer},
		{"legacy layer file", legacy.entries, strings.Repeat("b", 64) + "/layer.tar"},
		{"legacy config file", legacy.entries, legacy.id1.Encoded() + ".json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var damaged digest.Digest
			entries := slices.Clone(tc.entries)
			for i, e := range entries {
				if e.name == tc.damage {
					entries[i].body = flip(e.body)
					damaged = digest.FromBytes(entries[i].body)
				}
			}
			if damaged == "" {
				t.Fatalf("no %s in the archive", tc.damage)
			}
			st := newStore(t)
			_, err := archive.Load(context.Background(), st, bytes.NewReader(writeTar(t, entries)))
			wantErr(t, err, errdefs.ErrDigestMismatch, "load")
			if n := names(t, st); len(n) != 0 {
				t.Fatalf("names recorded: %v", n)
			}
			if strings.HasPrefix(tc.damage, "blobs/") {
				if _, err := st.Info(context.Background(), digest.Digest("sha256:"+strings.TrimPrefix(tc.damage, "blobs/sha256/"))); !errors.Is(err, errdefs.ErrNotFound) {
					t.Fatalf("damaged blob committed: %v", err)
				}
			}
			assertNoCorruption(t, st)
			// A store that has the intact blob refuses the damaged one too.
			_, err = archive.Load(context.Background(), src, bytes.NewReader(writeTar(t, entries)))
			wantErr(t, err, errdefs.ErrDigestMismatch, "load into the source store")
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		if n := names(t, src); !slices.Equal(n, []string{name}) {
			t.Errorf("source store names %v", n)
		}
	})
}

// TestLoadOCIChecksDiffIDs: a layer blob that matches its digest but not the
// config's diffID is refused.
func TestLoadOCIChecksDiffIDs(t *testing.T) {
	t.Parallel()
	src := newStore(t)
	a, b := layerTar(t, "a", "a"), layerTar(t, "b", "b")
	cfg := configFor(t, digest.FromBytes(b)) // says b, ships a
	gz := gzipped(t, a)
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(gz), Size: int64(len(gz))}
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m := mustJSON(t, ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m)),
		Annotations: map[string]string{ocispec.AnnotationRefName: "docker.io/library/bad:1"}}
	data := writeTar(t, []entry{
		{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", body: mustJSON(t, ocispec.Index{Versioned: specsV2, Manifests: []ocispec.Descriptor{md}})},
		{name: "blobs/sha256/" + layer.Digest.Encoded(), body: gz},
		{name: "blobs/sha256/" + cd.Digest.Encoded(), body: cfg},
		{name: "blobs/sha256/" + md.Digest.Encoded(), body: m},
	})
	_, err := archive.Load(context.Background(), src, bytes.NewReader(data))
	wantErr(t, err, errdefs.ErrDigestMismatch, "load")
	if n := names(t, src); len(n) != 0 {
		t.Fatalf("names recorded: %v", n)
	}
}

// TestLoadRefuses feeds malformed and hostile archives.
func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	raw := layerTar(t, "f", "x")
	cfg := configFor(t, digest.FromBytes(raw))
	good := func(extra ...entry) []entry {
		return append([]entry{
			{name: "manifest.json", body: mustJSON(t, []map[string]any{{"Config": "c.json", "RepoTags": []string{"x:1"}, "Layers": []string{"l.tar"}}})},
			{name: "c.json", body: cfg},
			{name: "l.tar", body: raw},
		}, extra...)
	}
	withManifest := func(m any, rest ...entry) []entry {
		return append([]entry{{name: "manifest.json", body: mustJSON(t, m)}, {name: "c.json", body: cfg}, {name: "l.tar", body: raw}}, rest...)
	}
	one := func(cfgPath string, tags []string, layers ...string) []map[string]any {
		return []map[string]any{{"Config": cfgPath, "RepoTags": tags, "Layers": layers}}
	}
	cases := []struct {
		name    string
		entries []entry
		raw     []byte
		want    error
	}{
		{"not a tar", nil, bytes.Repeat([]byte("not a tar archive "), 64), errdefs.ErrInvalidArgument},
		{"truncated", nil, writeTar(t, good())[:1200], errdefs.ErrInvalidArgument},
		{"empty", []entry{}, nil, errdefs.ErrInvalidArgument},
		{"parent path", good(entry{name: "../evil", body: []byte("x")}), nil, errdefs.ErrInvalidArgument},
		{"nested parent path", good(entry{name: "a/../../evil", body: []byte("x")}), nil, errdefs.ErrInvalidArgument},
		{"absolute path", good(entry{name: "/etc/evil", body: []byte("x")}), nil, errdefs.ErrInvalidArgument},
		{"symlink out", good(entry{name: "a/l", typeflag: '2', link: "../../etc/passwd"}), nil, errdefs.ErrInvalidArgument},
		{"absolute symlink", good(entry{name: "a/l", typeflag: '2', link: "/etc/passwd"}), nil, errdefs.ErrInvalidArgument},
		{"duplicate file", good(entry{name: "./c.json", body: cfg}), nil, errdefs.ErrInvalidArgument},
		{"huge manifest.json", []entry{{name: "manifest.json", body: bytes.Repeat([]byte(" "), 4<<20+1)}}, nil, errdefs.ErrTooLarge},
		{"huge config", withManifest(one("big.json", nil, "l.tar"), entry{name: "big.json", body: bytes.Repeat([]byte(" "), 4<<20+1)}), nil, errdefs.ErrTooLarge},
		{"bad manifest.json", []entry{{name: "manifest.json", body: []byte("{")}}, nil, errdefs.ErrInvalidArgument},
		{"missing layer", withManifest(one("c.json", nil, "none.tar")), nil, errdefs.ErrNotFound},
		{"missing config", withManifest(one("none.json", nil, "l.tar")), nil, errdefs.ErrNotFound},
		{"layer count", withManifest(one("c.json", nil, "l.tar", "l.tar")), nil, errdefs.ErrInvalidArgument},
		{"digest as tag", withManifest(one("c.json", []string{"x@sha256:" + strings.Repeat("a", 64)}, "l.tar")), nil, errdefs.ErrInvalidArgument},
		{"invalid tag", withManifest(one("c.json", []string{"UPPER:1"}, "l.tar")), nil, errdefs.ErrInvalidArgument},
		{"traversal in manifest.json", withManifest(one("../c.json", nil, "l.tar")), nil, errdefs.ErrInvalidArgument},
		{"link loop", withManifest(one("c.json", nil, "a"), entry{name: "a", typeflag: '2', link: "b"}, entry{name: "b", typeflag: '2', link: "a"}), nil, errdefs.ErrInvalidArgument},
		{"bzip2 layer", []entry{
			{name: "manifest.json", body: mustJSON(t, one("c.json", nil, "l.tar.bz2"))},
			{name: "c.json", body: cfg},
			{name: "l.tar.bz2", body: []byte("BZh91AY&SY garbage")},
		}, nil, errdefs.ErrUnsupported},
		{"broken gzip layer", []entry{
			{name: "manifest.json", body: mustJSON(t, one("c.json", nil, "l.tar.gz"))},
			{name: "c.json", body: cfg},
			{name: "l.tar.gz", body: gzipped(t, raw)[:20]},
		}, nil, errdefs.ErrInvalidArgument},
		{"oci layout version", []entry{
			{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"9.0.0"}`)},
			{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[]}`)},
		}, nil, errdefs.ErrUnsupported},
		{"oci missing blob", []entry{
			{name: "index.json", body: mustJSON(t, ocispec.Index{Versioned: specsV2, Manifests: []ocispec.Descriptor{{
				MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 1,
				Annotations: map[string]string{ocispec.AnnotationRefName: "x:1"}}}})},
		}, nil, errdefs.ErrNotFound},
		{"blob not matching its name", []entry{
			{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[]}`)},
			{name: "blobs/sha256/" + digest.FromString("x").Encoded(), body: []byte("y")},
		}, nil, errdefs.ErrDigestMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := tc.raw
			if tc.entries != nil {
				data = writeTar(t, tc.entries)
			}
			st := newStore(t)
			_, err := archive.Load(context.Background(), st, bytes.NewReader(data))
			wantErr(t, err, tc.want, tc.name)
			if n := names(t, st); len(n) != 0 {
				t.Fatalf("names recorded: %v", n)
			}
		})
	}
	// The good archive itself loads.
	if _, err := archive.Load(context.Background(), newStore(t), bytes.NewReader(writeTar(t, good()))); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRefusesSparseFiles: a sparse entry of a few hundred bytes would
// expand to a gigabyte of zeros. Go's tar writer cannot write one, so the
// headers are made by hand.
func TestLoadRefusesSparseFiles(t *testing.T) {
	t.Parallel()
	var records string
	for _, kv := range []string{"GNU.sparse.major=1", "GNU.sparse.minor=0", "GNU.sparse.name=layer.tar", "GNU.sparse.realsize=1000000000"} {
		n := len(kv) + 3 // "NN " + kv + "\n", the length counting itself
		records += fmt.Sprintf("%d %s\n", n+len(fmt.Sprint(n))-1, kv)
	}
	sparseMap := padBlock([]byte("0\n")) // no data fragments: all hole
	var buf bytes.Buffer
	buf.Write(rawHeader("PaxHeaders/layer.tar", tar.TypeXHeader, len(records)))
	buf.Write(padBlock([]byte(records)))
	buf.Write(rawHeader("layer.tar", tar.TypeReg, len(sparseMap)))
	buf.Write(sparseMap)
	buf.Write(make([]byte, 1024))
	_, err := archive.Load(context.Background(), newStore(t), &buf)
	wantErr(t, err, errdefs.ErrUnsupported, "sparse file")
}

// rawHeader is a ustar header block.
func rawHeader(name string, typeflag byte, size int) []byte {
	b := make([]byte, 512)
	copy(b, name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[156] = typeflag
	copy(b[257:], "ustar\x0000")
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func padBlock(b []byte) []byte {
	return append(b, make([]byte, (512-len(b)%512)%512)...)
}

func TestLoadCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := archive.Load(ctx, newStore(t), bytes.NewReader(writeTar(t, newLegacyArchive(t).entries)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// assertNoCorruption fails if fsck finds anything but the partial ingest a
// failed load may leave (which gc prunes).
func assertNoCorruption(t *testing.T, st *local.Store) {
	t.Helper()
	rep, err := fsck.Check(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Remaining() {
		t.Fatalf("fsck: %v", p)
	}
}
