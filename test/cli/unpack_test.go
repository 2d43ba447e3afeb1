package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/test/internal/testregistry"
)

func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := []byte(h.Linkname)
		if h.Typeflag == tar.TypeReg {
			body = []byte("content of " + h.Name)
			h.Size = int64(len(body))
		} else {
			h.Size = 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// richImage has what a real image has: nested directories, modes, owners,
// symlinks, hardlinks, and whiteouts of files and directories.
func richImage(t *testing.T) *fixtures.Image {
	t.Helper()
	dir := func(n string, mode int64) *tar.Header { return &tar.Header{Typeflag: tar.TypeDir, Name: n, Mode: mode} }
	reg := func(n string, mode int64, uid int) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: mode, Uid: uid, Gid: uid}
	}
	base := tarOf(t,
		dir("bin/", 0o755), reg("bin/sh", 0o755, 0), reg("bin/suid", 0o4755, 0),
		dir("etc/", 0o755), reg("etc/passwd", 0o644, 0), reg("etc/shadow", 0o640, 42),
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "etc/mtab", Linkname: "/proc/self/mounts"},
		&tar.Header{Typeflag: tar.TypeLink, Name: "bin/sh2", Linkname: "bin/sh"},
		dir("var/", 0o755), dir("var/cache/", 0o700), reg("var/cache/a", 0o600, 1000), reg("var/cache/b", 0o600, 1000),
		dir("opt/", 0o755), dir("opt/app/", 0o755), reg("opt/app/run", 0o750, 0),
	)
	upper := tarOf(t,
		reg("etc/.wh.shadow", 0o644, 0),
		dir("var/cache/", 0o700), reg("var/cache/.wh..wh..opq", 0o644, 0), reg("var/cache/c", 0o600, 0),
		reg("opt/.wh.app", 0o644, 0), reg("opt/app", 0o644, 0),
		reg("etc/passwd", 0o600, 0),
	)
	img, err := fixtures.ImageFromTars(77, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"}, [][]byte{base, upper})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// describe lists a tree as umoci and imagec should both produce it: path,
// type and mode, owner, link target and content hash (not times: umoci and
// imagec both keep the layer's, but directory times move as entries land).
func describe(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %x links=%d", sha256.Sum256(b), st.Nlink)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// imagec unpack produces the same tree as umoci raw unpack of the same image.
func TestUnpackMatchesUmoci(t *testing.T) {
	t.Parallel()
	testtool.Require(t, "umoci")
	if os.Geteuid() != 0 {
		t.Skip("ownership comparison needs root")
	}
	reg, root, env := seeded(t)
	if err := reg.Push(context.Background(), "rich/img", "v1", richImage(t)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rich/img:v1", testregistry.SampleOCI, testregistry.SampleZstd} {
		ref := reg.Host + "/" + name
		dir := t.TempDir()
		mine, theirs := filepath.Join(dir, "imagec"), filepath.Join(dir, "umoci")
		res := run(t, env, "--root", root, "--progress", "plain", "unpack", ref, mine)
		if res.Code != 0 || !strings.Contains(res.Stderr, "Unpacked "+ref) {
			t.Fatalf("unpack %s: %+v", name, res)
		}
		if out, err := exec.Command("umoci", "raw", "unpack", "--image", root+":"+ref, theirs).CombinedOutput(); err != nil {
			if strings.Contains(string(out), "zstd") {
				t.Logf("umoci cannot unpack %s: %s", name, out)
				continue
			}
			t.Fatalf("umoci raw unpack %s: %v\n%s", name, err, out)
		}
		if a, b := describe(t, mine), describe(t, theirs); a != b {
			t.Fatalf("%s differs\nimagec:\n%s\n\numoci:\n%s", name, a, b)
		}
	}
}

// pull --unpack keeps each layer once per chain ID; unpack uses them;
// rmi and gc remove those no image needs.
func TestPullUnpackLayerStore(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	ref := reg.Host + "/" + testregistry.SampleHello
	mustRun(t, env, "--root", root, "pull", "--unpack", ref)
	out := mustRun(t, env, "--root", root, "layers", ref)
	if strings.Count(out, " yes ") != 3 {
		t.Fatalf("layers after pull --unpack:\n%s", out)
	}
	layerDir := filepath.Join(root, ".imagec", "layers")
	ents, _ := os.ReadDir(layerDir)
	if len(ents) != 3 {
		t.Fatalf("%d layer directories", len(ents))
	}
	dst := filepath.Join(t.TempDir(), "rootfs")
	mustRun(t, env, "--root", root, "unpack", ref, dst)
	if b, err := os.ReadFile(filepath.Join(dst, "etc", "fixture-layer")); err != nil || !strings.Contains(string(b), "layer 2") {
		t.Fatalf("top layer's file: %q %v", b, err)
	}
	if res := run(t, env, "--root", root, "unpack", ref, dst); res.Code != 1 || !strings.Contains(res.Stderr, "not empty") {
		t.Fatalf("unpack into a non-empty dir: %+v", res)
	}
	mustRun(t, env, "--root", root, "rmi", ref)
	if out := mustRun(t, env, "--root", root, "gc"); !strings.Contains(out, "3 unpacked layers") {
		t.Fatalf("gc: %q", out)
	}
	if ents, _ := os.ReadDir(layerDir); len(ents) != 0 {
		t.Fatalf("%d layer directories left", len(ents))
	}
}

// unpack of an image the store lacks pulls it first, progress on stderr.
func TestUnpackPullsWhenMissing(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	ref := reg.Host + "/" + testregistry.SampleMulti
	dst := filepath.Join(t.TempDir(), "rootfs")
	res := run(t, env, "--root", root, "--progress", "plain", "unpack", "--platform", "linux/arm64", ref, dst)
	if res.Code != 0 || !strings.Contains(res.Stderr, "Pull complete") || res.Stdout != "" {
		t.Fatalf("unpack: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dst, "etc")); err != nil {
		t.Fatal(err)
	}
}
