package cli_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/test/internal/testregistry"
)

// recordFixture is the rich image in a registry and its true root
// filesystem, composed by a store that never unpacked a layer.
type recordFixture struct {
	reg   *testregistry.Registry
	ref   string
	env   []string
	truth string
}

func newRecordFixture(t *testing.T) *recordFixture {
	t.Helper()
	reg := testregistry.Start(t)
	if err := reg.Push(context.Background(), "rich/img", "v1", richImage(t)); err != nil {
		t.Fatal(err)
	}
	f := &recordFixture{reg: reg, ref: reg.Host + "/rich/img:v1", env: []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}}
	truth := filepath.Join(t.TempDir(), "truth")
	mustRun(t, f.env, "--root", t.TempDir(), "unpack", f.ref, truth)
	f.truth = describe(t, truth)
	return f
}

// unpackedRoot is a store that pulled the image with --unpack, and the
// directory of its base layer (the one holding bin/suid).
func (f *recordFixture) unpackedRoot(t *testing.T) (root, base string) {
	t.Helper()
	root = t.TempDir()
	mustRun(t, f.env, "--root", root, "pull", "--unpack", f.ref)
	m, err := filepath.Glob(filepath.Join(root, ".imagec", "layers", "*", "diff", "bin", "suid"))
	if err != nil || len(m) != 1 {
		t.Fatalf("base layer: %v %v", m, err)
	}
	return root, filepath.Dir(filepath.Dir(filepath.Dir(m[0])))
}

// Each edit of an unpacked layer (made with every time put back, so that
// what catches it is the check of what it changed) is reported by fsck and
// never reaches the output of a later unpack; repair removes the layer and
// pull --unpack makes it again.
func TestEditedUnpackedLayerCaught(t *testing.T) {
	t.Parallel()
	f := newRecordFixture(t)
	sentinel := t.TempDir() // the only place a crafted symlink points
	if err := os.WriteFile(filepath.Join(sentinel, "suid"), []byte("sentinel"), 0o644); err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(diff string) error{
		"content same size": func(diff string) error {
			return os.WriteFile(filepath.Join(diff, "bin/suid"), bytes.ToUpper([]byte("content of bin/suid")), 0o644)
		},
		"content other size": func(diff string) error {
			return os.WriteFile(filepath.Join(diff, "bin/suid"), []byte("#!/bin/sh\necho owned\n"), 0o644)
		},
		"chmod":        func(diff string) error { return os.Chmod(filepath.Join(diff, "bin/suid"), 0o755) },
		"file added":   func(diff string) error { return os.WriteFile(filepath.Join(diff, "bin/added"), []byte("x"), 0o755) },
		"file deleted": func(diff string) error { return os.Remove(filepath.Join(diff, "bin/suid")) },
		"file replaced by a symlink": func(diff string) error {
			if err := os.Remove(filepath.Join(diff, "bin/suid")); err != nil {
				return err
			}
			return os.Symlink(sentinel, filepath.Join(diff, "bin/suid"))
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root, base := f.unpackedRoot(t)
			chain := "sha256:" + filepath.Base(base)
			restore := saveTimes(t, base)
			if err := edit(filepath.Join(base, "diff")); err != nil {
				t.Fatal(err)
			}
			restore()

			res := run(t, f.env, "--root", root, "fsck")
			if res.Code != 1 || !strings.Contains(res.Stdout, "corrupt-layer "+chain+" : ") || !strings.Contains(res.Stdout, "1 problem\n") {
				t.Fatalf("fsck after the edit: %+v", res)
			}
			out := filepath.Join(t.TempDir(), "rootfs")
			res = run(t, f.env, "--root", root, "unpack", f.ref, out)
			if res.Code != 0 || !strings.Contains(res.Stderr, "warning: unpacked layer "+chain) {
				t.Fatalf("unpack after the edit: %+v", res)
			}
			if got := describe(t, out); got != f.truth {
				t.Fatalf("unpack output after the edit:\n%s\n\nthe image:\n%s", got, f.truth)
			}
			if b, err := os.ReadFile(filepath.Join(sentinel, "suid")); err != nil || string(b) != "sentinel" {
				t.Fatalf("sentinel: %q %v", b, err)
			}

			res = run(t, f.env, "--root", root, "fsck", "--repair")
			if res.Code != 0 || !strings.Contains(res.Stdout, "repair: removed unpacked layer "+chain+"\n") {
				t.Fatalf("fsck --repair: %+v", res)
			}
			mustRun(t, f.env, "--root", root, "pull", "--unpack", f.ref)
			if out := mustRun(t, f.env, "--root", root, "fsck"); !strings.Contains(out, "2 unpacked layers: 0 problems") {
				t.Fatalf("fsck after repair and pull --unpack: %q", out)
			}
			again := filepath.Join(t.TempDir(), "rootfs")
			res = run(t, f.env, "--root", root, "unpack", f.ref, again)
			if res.Code != 0 || strings.Contains(res.Stderr, "warning") || describe(t, again) != f.truth {
				t.Fatalf("unpack from the rebuilt layer: %+v", res)
			}
		})
	}
}

// A layer directory without a record, as an imagec before records left
// it, is reported, not used, and replaced by the next pull --unpack.
func TestUnpackedLayerWithoutRecord(t *testing.T) {
	t.Parallel()
	f := newRecordFixture(t)
	root, base := f.unpackedRoot(t)
	chain := "sha256:" + filepath.Base(base)
	if err := os.Remove(filepath.Join(base, "record")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "diff", "bin", "suid"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, f.env, "--root", root, "fsck")
	if res.Code != 1 || !strings.Contains(res.Stdout, "corrupt-layer "+chain+" : no record") {
		t.Fatalf("fsck: %+v", res)
	}
	if out := mustRun(t, f.env, "--root", root, "layers", f.ref); strings.Count(out, " yes ") != 1 {
		t.Fatalf("layers:\n%s", out)
	}
	out := filepath.Join(t.TempDir(), "rootfs")
	mustRun(t, f.env, "--root", root, "unpack", f.ref, out)
	if got := describe(t, out); got != f.truth {
		t.Fatalf("unpack output:\n%s\n\nthe image:\n%s", got, f.truth)
	}
	mustRun(t, f.env, "--root", root, "pull", "--unpack", f.ref)
	if out := mustRun(t, f.env, "--root", root, "fsck"); !strings.Contains(out, "2 unpacked layers: 0 problems") {
		t.Fatalf("fsck after pull --unpack: %q", out)
	}
}

// saveTimes saves the times of everything under root and returns a
// function that puts them back on the paths still there.
func saveTimes(t *testing.T, root string) func() {
	t.Helper()
	saved := map[string][]unix.Timespec{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
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
	return func() {
		for p, ts := range saved {
			_ = unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
}
