package layers_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/layers"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

var amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

type env struct {
	reg *testregistry.Registry
	st  *local.Store
	ls  *layers.Store
	p   *pull.Puller
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg := testregistry.Start(t)
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layers.OpenArea(st)
	if err != nil {
		t.Fatal(err)
	}
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, st: st, ls: ls, p: pull.New(c, st)}
}

// pullImage pushes img as repo:latest, pulls it and loads it from the store.
func (e *env) pullImage(t *testing.T, repo string, img *fixtures.Image) *image.Image {
	t.Helper()
	ctx := context.Background()
	if err := e.reg.Push(ctx, repo, "latest", img); err != nil {
		t.Fatal(err)
	}
	ref := reference.MustParse(e.reg.Host + "/" + repo)
	if _, err := e.p.Pull(ctx, ref); err != nil {
		t.Fatal(err)
	}
	entry, err := e.st.Image(ctx, ref.String())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := image.Load(ctx, e.st, entry, nil)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

type tarEntry struct {
	name, body, link string
	typ              byte
}

func layerTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.typ == tar.TypeSymlink || e.typ == tar.TypeLink || e.typ == tar.TypeDir {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// whiteoutImage has a base layer and a layer that deletes a file, empties a
// directory (opaque) and replaces a directory with a file.
func whiteoutImage(t *testing.T, c fixtures.Compression) *fixtures.Image {
	t.Helper()
	base := layerTar(t,
		tarEntry{name: "etc/", typ: tar.TypeDir},
		tarEntry{name: "etc/keep", body: "keep", typ: tar.TypeReg},
		tarEntry{name: "etc/gone", body: "gone", typ: tar.TypeReg},
		tarEntry{name: "var/", typ: tar.TypeDir},
		tarEntry{name: "var/cache/", typ: tar.TypeDir},
		tarEntry{name: "var/cache/old", body: "old", typ: tar.TypeReg},
		tarEntry{name: "opt/", typ: tar.TypeDir},
		tarEntry{name: "opt/tool/", typ: tar.TypeDir},
		tarEntry{name: "opt/tool/bin", body: "bin", typ: tar.TypeReg},
		tarEntry{name: "etc/link", link: "keep", typ: tar.TypeSymlink},
		tarEntry{name: "etc/hard", link: "etc/keep", typ: tar.TypeLink},
	)
	top := layerTar(t,
		tarEntry{name: "etc/.wh.gone", typ: tar.TypeReg},
		tarEntry{name: "var/cache/", typ: tar.TypeDir},
		tarEntry{name: "var/cache/.wh..wh..opq", typ: tar.TypeReg},
		tarEntry{name: "var/cache/new", body: "new", typ: tar.TypeReg},
		tarEntry{name: "opt/.wh.tool", typ: tar.TypeReg},
		tarEntry{name: "opt/tool", body: "now a file", typ: tar.TypeReg},
	)
	img, err := fixtures.ImageFromTars(5, fixtures.OCI, c, amd64, [][]byte{base, top})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tree describes a directory: path -> type, mode, owner, link target,
// content hash.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string]string) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, k+" "+v)
	}
	sort.Strings(ks)
	return strings.Join(ks, "\n")
}

func TestComposeFromCacheEqualsFromBlobs(t *testing.T) {
	t.Parallel()
	for _, c := range []fixtures.Compression{fixtures.Gzip, fixtures.Zstd} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			img := e.pullImage(t, "wh/img", whiteoutImage(t, c))
			dir := t.TempDir()
			direct, cached := filepath.Join(dir, "direct"), filepath.Join(dir, "cached")
			ctx := context.Background()
			if err := e.ls.Compose(ctx, img, direct); err != nil {
				t.Fatal(err)
			}
			if got := e.ls.Unpacked(img); got[0] || got[1] {
				t.Fatalf("compose from blobs filled the layer cache: %v", got)
			}
			if err := e.ls.Ensure(ctx, img, 2); err != nil {
				t.Fatal(err)
			}
			if got := e.ls.Unpacked(img); !got[0] || !got[1] {
				t.Fatalf("unpacked after Ensure: %v", got)
			}
			if err := e.ls.Compose(ctx, img, cached); err != nil {
				t.Fatal(err)
			}
			a, b := tree(t, direct), tree(t, cached)
			if keys(a) != keys(b) {
				t.Fatalf("from blobs:\n%s\n\nfrom cache:\n%s", keys(a), keys(b))
			}
			want := map[string]bool{"etc/keep": true, "etc/link": true, "etc/hard": true, "var/cache/new": true, "opt/tool": true}
			for _, gone := range []string{"etc/gone", "var/cache/old", "opt/tool/bin"} {
				if _, ok := a[gone]; ok {
					t.Fatalf("%s survived its whiteout:\n%s", gone, keys(a))
				}
			}
			for p := range want {
				if _, ok := a[p]; !ok {
					t.Fatalf("%s missing:\n%s", p, keys(a))
				}
			}
			if b, _ := os.ReadFile(filepath.Join(cached, "opt/tool")); string(b) != "now a file" {
				t.Fatalf("opt/tool = %q", b)
			}
			fi1, _ := os.Stat(filepath.Join(cached, "etc/keep"))
			fi2, _ := os.Stat(filepath.Join(cached, "etc/hard"))
			if !os.SameFile(fi1, fi2) {
				t.Fatal("hardlink not kept")
			}
		})
	}
}

// Images sharing base layers share their unpacked directories.
func TestSharedBaseUnpackedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	base := layerTar(t, tarEntry{name: "base", body: "base", typ: tar.TypeReg})
	one, _ := fixtures.ImageFromTars(1, fixtures.OCI, fixtures.Gzip, amd64, [][]byte{base, layerTar(t, tarEntry{name: "one", body: "1", typ: tar.TypeReg})})
	two, _ := fixtures.ImageFromTars(2, fixtures.OCI, fixtures.Gzip, amd64, [][]byte{base, layerTar(t, tarEntry{name: "two", body: "2", typ: tar.TypeReg})})
	a, b := e.pullImage(t, "s/one", one), e.pullImage(t, "s/two", two)
	if err := e.ls.Ensure(ctx, a, 2); err != nil {
		t.Fatal(err)
	}
	chain := image.ChainIDs(b.Config.RootFS.DiffIDs)
	baseDir := e.ls.Path(chain[0])
	before, err := os.Stat(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.ls.Unpacked(b); !got[0] || got[1] {
		t.Fatalf("second image: %v, want its base already unpacked", got)
	}
	if err := e.ls.Ensure(ctx, b, 2); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(baseDir)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the shared base was unpacked again")
	}

	// gc: with only the first image alive, the second's own layer goes.
	live := map[digest.Digest]bool{}
	for _, c := range image.ChainIDs(a.Config.RootFS.DiffIDs) {
		live[c] = true
	}
	if n, err := e.ls.Sweep(ctx, live, true); err != nil || n != 1 || !e.ls.Has(chain[1]) {
		t.Fatalf("dry sweep counted %d, %v, or removed a layer", n, err)
	}
	n, err := e.ls.Sweep(ctx, live, false)
	if err != nil || n != 1 || e.ls.Has(chain[1]) || !e.ls.Has(chain[0]) {
		t.Fatalf("sweep removed %d, %v", n, err)
	}
}

func TestComposeRefusesNonEmptyAndLeavesNothingOnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	img := e.pullImage(t, "x/y", whiteoutImage(t, fixtures.Gzip))
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	if err := e.ls.Compose(ctx, img, full); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("compose into a non-empty dir: %v", err)
	}
	// Corrupt the top layer's blob: its diffID no longer matches.
	blob := e.st.Path(img.Manifest.Layers[1].Digest)
	os.Chmod(blob, 0o644)
	data, _ := os.ReadFile(blob)
	data[len(data)/2] ^= 0xff
	os.WriteFile(blob, data, 0o644)
	target := filepath.Join(dir, "rootfs")
	if err := e.ls.Compose(ctx, img, target); err == nil {
		t.Fatal("compose of a corrupt layer succeeded")
	}
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		if en.Name() != "full" {
			t.Fatalf("left behind: %s", en.Name())
		}
	}
}

// An image named through an index whose entry carries no platform keeps its
// unpacked layers alive.
func TestLiveChainsFollowsPlatformlessIndexChildren(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	img := e.pullImage(t, "p/less", whiteoutImage(t, fixtures.Gzip))
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		img.ManifestDesc.MediaType, img.ManifestDesc.Digest, img.ManifestDesc.Size))
	idx := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(body), Size: int64(len(body))}
	if err := e.st.WriteBlob(ctx, idx, body); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RemoveImage(ctx, img.Name); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetImage(ctx, "example.com/p/less:latest", idx); err != nil {
		t.Fatal(err)
	}
	live, err := layers.LiveChains(ctx, e.st)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range image.ChainIDs(img.Config.RootFS.DiffIDs) {
		if !live[c] {
			t.Fatalf("chain %s of a named image is not live", c)
		}
	}
}

// A tree left half-built by a killed unpack is removed by the next unpack to
// the same destination; one still being built is left alone.
func TestStaleRootfsRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	img := e.pullImage(t, "st/ale", whiteoutImage(t, fixtures.Gzip))
	dir := t.TempDir()
	dst := filepath.Join(dir, "rootfs")
	stale := filepath.Join(dir, ".rootfs.imagec-123")
	if err := os.MkdirAll(filepath.Join(stale, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	busy, err := e.ls.NewRootfs(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Abort()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale tree still there: %v", err)
	}
	if err := e.ls.Compose(ctx, img, dst); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, en := range ents {
		names = append(names, en.Name())
	}
	if len(names) != 2 { // rootfs and the busy builder's tree
		t.Fatalf("entries %v, want the result and the running build", names)
	}
}

// A symlink planted where the layer area belongs is refused: unpack would
// build trees through it and gc would sweep what it points to.
func TestOpenRefusesSymlinkedLayerArea(t *testing.T) {
	t.Parallel()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	keep := filepath.Join(outside, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(st.Root(), ".imagec", "layers")); err != nil {
		t.Fatal(err)
	}
	if _, err := layers.OpenArea(st); err == nil {
		t.Fatal("layers.Open through a symlink succeeded")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the linked directory lost its file: %v", err)
	}
}
