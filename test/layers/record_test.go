package layers_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/fixtures"
)

// cached is an image whose layers are unpacked in the layer area, with the
// tree composed from its blobs alone (its true content).
type cached struct {
	e      *env
	img    *image.Image
	chains []digest.Digest
	want   map[string]string
}

func newCached(t *testing.T) *cached {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	img := e.pullImage(t, "rec/img", whiteoutImage(t, fixtures.Gzip))
	truth := filepath.Join(t.TempDir(), "truth")
	if err := e.ls.Compose(ctx, img, truth); err != nil {
		t.Fatal(err)
	}
	if err := e.ls.Ensure(ctx, img, 2); err != nil {
		t.Fatal(err)
	}
	return &cached{e: e, img: img, chains: image.ChainIDs(img.Config.RootFS.DiffIDs), want: tree(t, truth)}
}

func (c *cached) diff(i int, rel string) string {
	return filepath.Join(c.e.ls.Path(c.chains[i]), "diff", rel)
}

// compose composes the image and returns its tree and the layers unpack
// did not trust.
func (c *cached) compose(t *testing.T) (map[string]string, []error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "rootfs")
	b, err := c.e.ls.NewRootfs(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Abort()
	if err := b.Finish(context.Background(), c.img); err != nil {
		t.Fatal(err)
	}
	return tree(t, dst), b.Distrusted()
}

// A layer as it was unpacked passes its record, and so does every entry
// type of the overlay form: whiteouts, opaque directories, hardlinks and
// symlinks.
func TestRecordOfIntactLayers(t *testing.T) {
	t.Parallel()
	c := newCached(t)
	for _, chain := range c.chains {
		if err := c.e.ls.Verify(context.Background(), chain); err != nil {
			t.Fatal(err)
		}
	}
	base, _ := os.ReadFile(filepath.Join(c.e.ls.Path(c.chains[0]), "record"))
	top, _ := os.ReadFile(filepath.Join(c.e.ls.Path(c.chains[1]), "record"))
	for _, want := range []string{
		"imagec layer record v1\nchain " + c.chains[0].String() + "\ndiffid " + c.img.Config.RootFS.DiffIDs[0].String() + "\n",
		`"etc/keep" h "etc/hard"`, `"etc/link" l 777 0:0 `, `"etc/hard" f 644 0:0 `,
	} {
		if !strings.Contains(string(base), want) {
			t.Errorf("base record lacks %q:\n%s", want, base)
		}
	}
	for _, want := range []string{`"etc/gone" w 0 0:0 `, `"var/cache" d 755 0:0 0.000000000 x:"trusted.overlay.opaque"=79`, `"opt/tool" f 644 0:0 `} {
		if !strings.Contains(string(top), want) {
			t.Errorf("top record lacks %q:\n%s", want, top)
		}
	}
	got, distrusted := c.compose(t)
	if keys(got) != keys(c.want) || len(distrusted) != 0 {
		t.Fatalf("composed from the cache (distrusted %v):\n%s\n\nwant:\n%s", distrusted, keys(got), keys(c.want))
	}
}

// Every kind of edit to an unpacked layer fails its verification, and
// unpack composes the image's true content regardless.
func TestEditedLayerNotTrusted(t *testing.T) {
	t.Parallel()
	sentinel := t.TempDir() // the only place a crafted symlink points
	if err := os.WriteFile(filepath.Join(sentinel, "keep"), []byte("sentinel"), 0o644); err != nil {
		t.Fatal(err)
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	edits := map[string]func(t *testing.T, c *cached){
		"content same size":     func(t *testing.T, c *cached) { must(t, os.WriteFile(c.diff(0, "etc/keep"), []byte("KEEP"), 0o644)) },
		"content other size":    func(t *testing.T, c *cached) { must(t, os.WriteFile(c.diff(0, "etc/keep"), []byte("kept!"), 0o644)) },
		"top layer content":     func(t *testing.T, c *cached) { must(t, os.WriteFile(c.diff(1, "var/cache/new"), []byte("NEW"), 0o644)) },
		"chmod":                 func(t *testing.T, c *cached) { must(t, os.Chmod(c.diff(0, "etc/keep"), 0o4755)) },
		"chown":                 func(t *testing.T, c *cached) { must(t, os.Lchown(c.diff(0, "etc/link"), 1, 1)) },
		"mtime":                 func(t *testing.T, c *cached) { must(t, os.Chtimes(c.diff(0, "etc/gone"), time.Now(), time.Now())) },
		"file added":            func(t *testing.T, c *cached) { must(t, os.WriteFile(c.diff(0, "etc/added"), []byte("x"), 0o644)) },
		"file added at the end": func(t *testing.T, c *cached) { must(t, os.WriteFile(c.diff(0, "zzz"), []byte("x"), 0o644)) },
		"file deleted":          func(t *testing.T, c *cached) { must(t, os.Remove(c.diff(0, "var/cache/old"))) },
		"last file deleted":     func(t *testing.T, c *cached) { must(t, os.RemoveAll(c.diff(0, "var"))) },
		"xattr added": func(t *testing.T, c *cached) {
			must(t, unix.Lsetxattr(c.diff(0, "etc/gone"), "user.x", []byte("1"), 0))
		},
		"whiteout removed": func(t *testing.T, c *cached) { must(t, os.Remove(c.diff(1, "etc/gone"))) },
		"opaque marker removed": func(t *testing.T, c *cached) {
			must(t, unix.Removexattr(c.diff(1, "var/cache"), "trusted.overlay.opaque"))
		},
		"directory opaque added": func(t *testing.T, c *cached) {
			must(t, unix.Setxattr(c.diff(1, "etc"), "trusted.overlay.opaque", []byte("y"), 0))
		},
		"file replaced by symlink": func(t *testing.T, c *cached) {
			must(t, os.Remove(c.diff(0, "etc/gone")))
			must(t, os.Symlink(sentinel, c.diff(0, "etc/gone")))
		},
		"hardlink broken": func(t *testing.T, c *cached) {
			must(t, os.Remove(c.diff(0, "etc/keep")))
			must(t, os.WriteFile(c.diff(0, "etc/keep"), []byte("keep"), 0o644))
		},
		"edit and record line changed together": func(t *testing.T, c *cached) {
			// A consistent edit of tree and record that leaves the
			// record's digest alone is caught by its trailer.
			rec := filepath.Join(c.e.ls.Path(c.chains[0]), "record")
			b, err := os.ReadFile(rec)
			must(t, err)
			must(t, os.Chmod(c.diff(0, "etc/gone"), 0o600))
			b = []byte(strings.Replace(string(b), `"etc/gone" f 644`, `"etc/gone" f 600`, 1))
			must(t, os.Chmod(rec, 0o644))
			must(t, os.WriteFile(rec, b, 0o444))
		},
		"record of another layer": func(t *testing.T, c *cached) {
			rec0 := filepath.Join(c.e.ls.Path(c.chains[0]), "record")
			rec1 := filepath.Join(c.e.ls.Path(c.chains[1]), "record")
			must(t, os.Rename(rec1, rec0))
			// The top layer now has no record at all.
		},
	}
	// Times are put back after each edit, so that what catches it is the
	// check of what it changed, not the mtime it left.
	edits["mtime"] = nil
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCached(t)
			if edit == nil {
				must(t, os.Chtimes(c.diff(0, "etc/gone"), time.Now(), time.Now()))
			} else {
				restore := saveTimes(t, c.e.ls.Path(c.chains[0]), c.e.ls.Path(c.chains[1]))
				edit(t, c)
				restore()
			}
			bad := 0
			for _, chain := range c.chains {
				err := c.e.ls.Verify(context.Background(), chain)
				switch {
				case err == nil:
				case errors.Is(err, errdefs.ErrDigestMismatch), errors.Is(err, errdefs.ErrNotFound):
					bad++
				default:
					t.Fatalf("verify %s: %v", chain, err)
				}
			}
			if bad == 0 {
				t.Fatal("the edited layer passed its verification")
			}
			got, distrusted := c.compose(t)
			if keys(got) != keys(c.want) {
				t.Fatalf("composed from an edited cache:\n%s\n\nwant:\n%s", keys(got), keys(c.want))
			}
			if len(distrusted) == 0 && bad == 0 {
				t.Fatal("nothing distrusted")
			}
			t.Logf("%s: distrusted: %v", name, distrusted)
			if b, err := os.ReadFile(filepath.Join(sentinel, "keep")); err != nil || string(b) != "sentinel" {
				t.Fatalf("sentinel changed: %q %v", b, err)
			}
		})
	}
}

// saveTimes saves the times of everything under roots and returns a
// function that puts them back on the paths still there.
func saveTimes(t *testing.T, roots ...string) func() {
	t.Helper()
	saved := map[string][]unix.Timespec{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return err
			}
			saved[p] = []unix.Timespec{st.Atim, st.Mtim}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for p, ts := range saved {
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
}

// A layer directory without a record (an older imagec's) is not used, and
// the next Ensure replaces it with a recorded one; Remove deletes a layer.
func TestLayerWithoutRecord(t *testing.T) {
	t.Parallel()
	c := newCached(t)
	ctx := context.Background()
	rec := filepath.Join(c.e.ls.Path(c.chains[0]), "record")
	if err := os.Remove(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.diff(0, "etc/keep"), []byte("KEEP"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.e.ls.Verify(ctx, c.chains[0]); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("verify without a record: %v", err)
	}
	if got := c.e.ls.Unpacked(c.img); got[0] || !got[1] {
		t.Fatalf("unpacked: %v", got)
	}
	if got, _ := c.compose(t); keys(got) != keys(c.want) {
		t.Fatalf("composed with a layer that has no record:\n%s", keys(got))
	}
	if err := c.e.ls.Ensure(ctx, c.img, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.e.ls.Verify(ctx, c.chains[0]); err != nil {
		t.Fatalf("after Ensure: %v", err)
	}
	if b, _ := os.ReadFile(c.diff(0, "etc/keep")); string(b) != "keep" {
		t.Fatalf("etc/keep = %q after Ensure", b)
	}
	if err := c.e.ls.Remove(c.chains[1]); err != nil || c.e.ls.Has(c.chains[1]) {
		t.Fatalf("remove: %v", err)
	}
	chains, err := c.e.ls.Chains()
	if err != nil || len(chains) != 1 || chains[0] != c.chains[0] {
		t.Fatalf("chains after remove: %v %v", chains, err)
	}
}
