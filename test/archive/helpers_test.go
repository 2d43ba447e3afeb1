package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/fsck"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

var linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

func newStore(t testing.TB) *local.Store {
	t.Helper()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// puller pulls fixture images from an in-process registry into a store.
type puller struct {
	reg *testregistry.Registry
	st  *local.Store
	p   *pull.Puller
}

func newPuller(t *testing.T) *puller {
	t.Helper()
	reg := testregistry.Start(t)
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	return &puller{reg: reg, st: st, p: pull.New(c, st)}
}

// image pushes img as repo:tag and pulls it; it returns the stored name.
func (p *puller) image(t *testing.T, repoTag string, img *fixtures.Image) string {
	t.Helper()
	ctx := context.Background()
	repo, tag, _ := strings.Cut(repoTag, ":")
	if err := p.reg.Push(ctx, repo, tag, img); err != nil {
		t.Fatal(err)
	}
	return p.pull(t, repoTag)
}

func (p *puller) index(t *testing.T, repoTag string, idx *fixtures.Index) string {
	t.Helper()
	repo, tag, _ := strings.Cut(repoTag, ":")
	if err := p.reg.PushIndex(context.Background(), repo, tag, idx); err != nil {
		t.Fatal(err)
	}
	return p.pull(t, repoTag)
}

func (p *puller) pull(t *testing.T, repoTag string, opts ...pull.PullOption) string {
	t.Helper()
	ref := reference.MustParse(p.reg.Host + "/" + repoTag)
	if _, err := p.p.Pull(context.Background(), ref, opts...); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

func fixture(t *testing.T, seed int64, layers int, f fixtures.Format, c fixtures.Compression) *fixtures.Image {
	t.Helper()
	img, err := fixtures.NewImage(seed, layers, 32<<10, f, c, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// imageID reads name back from st and returns its image ID.
func imageID(t *testing.T, st *local.Store, name string) digest.Digest {
	t.Helper()
	img := loadImage(t, st, name)
	return img.ID()
}

func loadImage(t *testing.T, st *local.Store, name string) *image.Image {
	t.Helper()
	ctx := context.Background()
	entry, err := st.Image(ctx, name)
	if err != nil {
		t.Fatalf("image %s: %v", name, err)
	}
	img, err := image.Load(ctx, st, entry, nil)
	if err != nil {
		t.Fatalf("image %s: %v", name, err)
	}
	if missing := image.Missing(ctx, st, img); len(missing) > 0 {
		t.Fatalf("image %s lacks %d layers", name, len(missing))
	}
	return img
}

// assertClean fails unless fsck finds nothing wrong with st.
func assertClean(t *testing.T, st *local.Store) {
	t.Helper()
	rep, err := fsck.Check(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Remaining(); len(p) > 0 {
		t.Fatalf("fsck: %v", p)
	}
}

func save(t *testing.T, st *local.Store, f archive.Format, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := archive.Save(context.Background(), st, &buf, f, names); err != nil {
		t.Fatalf("save %v: %v", names, err)
	}
	return buf.Bytes()
}

// entry is one file of a test archive.
type entry struct {
	name     string
	body     []byte
	typeflag byte // tar.TypeReg if zero
	link     string
}

// readTar lists the regular files, links and directories of an archive.
func readTar(t *testing.T, b []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{name: hdr.Name, body: body, typeflag: hdr.Typeflag, link: hdr.Linkname})
	}
}

func writeTar(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.link}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fileOf(t *testing.T, entries []entry, name string) []byte {
	t.Helper()
	for _, e := range entries {
		if e.name == name {
			return e.body
		}
	}
	t.Fatalf("archive has no %s", name)
	return nil
}

// layerTar is a small uncompressed layer holding one file.
func layerTar(t testing.TB, file, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// configFor is an image config with the given diffIDs.
func configFor(t testing.TB, diffIDs ...digest.Digest) []byte {
	t.Helper()
	b, err := json.Marshal(ocispec.Image{
		Platform: linuxAMD64,
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storeImage writes a Docker image with gzip layers made from raw (the
// uncompressed layer tars) straight into st and names it.
func storeImage(t *testing.T, st *local.Store, name string, raw ...[]byte) digest.Digest {
	t.Helper()
	return storeImageWith(t, st, name, nil, raw...)
}

// storeImageByDigest stores an image as storeImage does and names it
// repo@<its repo digest>, as a pull by digest would; it returns that name.
func storeImageByDigest(t *testing.T, st *local.Store, repo string, raw ...[]byte) string {
	t.Helper()
	ctx := context.Background()
	tmp := repo + ":by-digest"
	storeImage(t, st, tmp, raw...)
	entry, err := st.Image(ctx, tmp)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Load(ctx, st, entry, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := repo + "@" + img.RepoDigest().String()
	if err := st.SetImage(ctx, name, entry); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveImage(ctx, tmp); err != nil {
		t.Fatal(err)
	}
	return name
}

// storeImageWith is storeImage with edit applied to each layer descriptor.
func storeImageWith(t *testing.T, st *local.Store, name string, edit func(int, *ocispec.Descriptor), raw ...[]byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	var diffIDs []digest.Digest
	var layers []ocispec.Descriptor
	for _, r := range raw {
		gz := gzipped(t, r)
		d := ocispec.Descriptor{MediaType: manifest.MediaTypeDockerLayer, Digest: digest.FromBytes(gz), Size: int64(len(gz))}
		if edit != nil {
			edit(len(layers), &d)
		}
		if err := st.WriteBlob(ctx, d, gz); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, d)
		diffIDs = append(diffIDs, digest.FromBytes(r))
	}
	cfg := configFor(t, diffIDs...)
	cd := ocispec.Descriptor{MediaType: manifest.MediaTypeDockerConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if err := st.WriteBlob(ctx, cd, cfg); err != nil {
		t.Fatal(err)
	}
	m, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: manifest.MediaTypeDockerManifest, Config: cd, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	md := ocispec.Descriptor{MediaType: manifest.MediaTypeDockerManifest, Digest: digest.FromBytes(m), Size: int64(len(m)), Platform: &linuxAMD64}
	if err := st.WriteBlob(ctx, md, m); err != nil {
		t.Fatal(err)
	}
	idx, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{md}, Annotations: map[string]string{graph.AnnotationSourceBlob: md.Digest.String()}})
	if err != nil {
		t.Fatal(err)
	}
	entry := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(idx), Size: int64(len(idx))}
	if err := st.WriteBlob(ctx, entry, idx); err != nil {
		t.Fatal(err)
	}
	if err := st.SetImage(ctx, name, entry); err != nil {
		t.Fatal(err)
	}
	return cd.Digest
}

func names(t *testing.T, st *local.Store) []string {
	t.Helper()
	entries, err := st.Images(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Annotations[ocispec.AnnotationRefName])
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantErr(t *testing.T, err error, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// corruptBlob flips a byte in the middle of a committed (read-only) blob.
func corruptBlob(path string) error {
	if err := os.Chmod(path, 0o644); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0xff
	return os.WriteFile(path, b, 0o644)
}

var specsV2 = specs.Versioned{SchemaVersion: 2}
