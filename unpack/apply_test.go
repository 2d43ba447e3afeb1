package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// TestApplyEntryTypes extracts one layer with every entry type and checks
// the tree, privileged and not.
func TestApplyEntryTypes(t *testing.T) {
	t.Parallel()
	dirTime := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	fileTime := time.Date(2011, 1, 1, 0, 0, 0, 123000000, time.UTC)
	layer := []ent{
		{typ: tar.TypeDir, name: "./", mode: 0o750, mtime: dirTime},
		{typ: tar.TypeDir, name: "etc/", mode: 0o755, uid: 10, gid: 20, mtime: dirTime,
			xattrs: map[string]string{"user.dir": "d"}},
		{typ: tar.TypeReg, name: "etc/passwd", body: "root:x:0:0\n", mode: 0o644, uid: 1000, gid: 1001, mtime: fileTime,
			xattrs: map[string]string{"user.note": "hello", "trusted.t": "tv", "security.selinux": "x", "trusted.overlay.redirect": "/x"}},
		{typ: tar.TypeReg, name: "/bin/su", body: "ELF", mode: 0o4755, mtime: fileTime},
		{typ: tar.TypeReg, name: "bin/ping", body: "ELF2", mode: 0o755,
			xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}},
		{typ: tar.TypeDir, name: "tmp", mode: 0o1777, mtime: dirTime},
		{typ: tar.TypeSymlink, name: "lib", link: "/usr/lib", uid: 7, gid: 8, mtime: fileTime},
		{typ: tar.TypeSymlink, name: "etc/rel", link: "../bin/su"},
		{typ: tar.TypeLink, name: "bin/su2", link: "/bin/su"},
		{typ: tar.TypeLink, name: "etc/rel2", link: "etc/rel"},
		{typ: tar.TypeFifo, name: "run/fifo", mode: 0o620, mtime: fileTime},
		{typ: tar.TypeChar, name: "dev/null", mode: 0o666, major: 1, minor: 3},
		{typ: tar.TypeBlock, name: "dev/sda", mode: 0o660, major: 8, minor: 0},
		{typ: tar.TypeDir, name: "ro/", mode: 0o555, mtime: dirTime},
		{typ: tar.TypeReg, name: "ro/inside", body: "x", mode: 0o444},
		{typ: tar.TypeReg, name: "implicit/parent/file", body: "p"},
	}
	for _, unpriv := range []bool{false, true} {
		t.Run(map[bool]string{false: "privileged", true: "unprivileged"}[unpriv], func(t *testing.T) {
			t.Parallel()
			if !unpriv {
				requireRoot(t)
			}
			root := tempRoot(t)
			st := mustApply(t, root, layer, Options{Unprivileged: boolp(unpriv)})
			if st.Entries != len(layer) || st.Bytes == 0 {
				t.Errorf("stats = %+v", st)
			}
			p := func(s string) string { return filepath.Join(root, s) }

			if got := readFile(t, p("etc/passwd")); got != "root:x:0:0\n" {
				t.Errorf("content = %q", got)
			}
			fst := lstat(t, p("etc/passwd"))
			if fst.Mode&0o7777 != 0o644 || fst.Mtim.Sec != fileTime.Unix() || fst.Mtim.Nsec != 123000000 {
				t.Errorf("etc/passwd mode %o mtime %v", fst.Mode&0o7777, fst.Mtim)
			}
			if v, err := getxattr(p("etc/passwd"), "user.note"); err != nil || v != "hello" {
				t.Errorf("user.note = %q, %v", v, err)
			}
			if _, err := getxattr(p("etc/passwd"), "trusted.overlay.redirect"); err == nil {
				t.Error("trusted.overlay.redirect from the layer was applied")
			}
			if _, err := getxattr(p("etc/passwd"), "security.selinux"); err == nil {
				if v, _ := getxattr(p("etc/passwd"), "security.selinux"); v == "x" {
					t.Error("security.selinux from the layer was applied")
				}
			}
			if v, _ := getxattr(p("etc"), "user.dir"); v != "d" {
				t.Errorf("dir xattr = %q", v)
			}
			if st := lstat(t, p("etc")); st.Mtim.Sec != dirTime.Unix() {
				t.Errorf("etc mtime %d, want %d (set after its children)", st.Mtim.Sec, dirTime.Unix())
			}
			if st := lstat(t, root); st.Mode&0o777 != 0o750 || st.Mtim.Sec != dirTime.Unix() {
				t.Errorf("root mode %o mtime %d", st.Mode&0o777, st.Mtim.Sec)
			}
			if l, _ := os.Readlink(p("lib")); l != "/usr/lib" {
				t.Errorf("lib -> %q", l)
			}
			if st := lstat(t, p("lib")); st.Mtim.Sec != fileTime.Unix() {
				t.Errorf("symlink mtime %d", st.Mtim.Sec)
			}
			if a, b := lstat(t, p("bin/su")), lstat(t, p("bin/su2")); a.Ino != b.Ino {
				t.Error("bin/su2 is not a hardlink of bin/su")
			}
			if a, b := lstat(t, p("etc/rel")), lstat(t, p("etc/rel2")); a.Ino != b.Ino || b.Mode&unix.S_IFMT != unix.S_IFLNK {
				t.Error("etc/rel2 is not a hardlink of the symlink etc/rel")
			}
			if st := lstat(t, p("run/fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Mode&0o777 != 0o620 {
				t.Errorf("fifo mode %o", st.Mode)
			}
			if st := lstat(t, p("ro")); st.Mode&0o777 != 0o555 || st.Mtim.Sec != dirTime.Unix() {
				t.Errorf("ro mode %o mtime %d", st.Mode&0o777, st.Mtim.Sec)
			}
			if readFile(t, p("ro/inside")) != "x" || readFile(t, p("implicit/parent/file")) != "p" {
				t.Error("content under ro/ or implicit/ missing")
			}
			if st := lstat(t, p("implicit/parent")); st.Mode&0o777 != 0o755 {
				t.Errorf("implicit parent mode %o", st.Mode&0o777)
			}

			su := lstat(t, p("bin/su"))
			tmp := lstat(t, p("tmp"))
			if unpriv {
				if exists(p("dev/null")) || exists(p("dev/sda")) {
					t.Error("device nodes created unprivileged")
				}
				if su.Mode&0o7777 != 0o755 || tmp.Mode&0o7777 != 0o777 {
					t.Errorf("special bits kept unprivileged: su %o tmp %o", su.Mode&0o7777, tmp.Mode&0o7777)
				}
				for _, reason := range []string{"device", "chown", "special-mode-bits", "xattr-privileged", "xattr-overlay", "xattr-other"} {
					if st.Skipped[reason] == 0 {
						t.Errorf("Skipped[%q] = 0 (%v)", reason, st.Skipped)
					}
				}
				return
			}
			if fst.Uid != 1000 || fst.Gid != 1001 {
				t.Errorf("etc/passwd owner %d:%d", fst.Uid, fst.Gid)
			}
			if st := lstat(t, p("etc")); st.Uid != 10 || st.Gid != 20 {
				t.Errorf("etc owner %d:%d", st.Uid, st.Gid)
			}
			if st := lstat(t, p("lib")); st.Uid != 7 || st.Gid != 8 {
				t.Errorf("symlink owner %d:%d", st.Uid, st.Gid)
			}
			if su.Mode&0o7777 != 0o4755 || tmp.Mode&0o7777 != 0o1777 {
				t.Errorf("special bits: su %o tmp %o", su.Mode&0o7777, tmp.Mode&0o7777)
			}
			if v, err := getxattr(p("etc/passwd"), "trusted.t"); err != nil || v != "tv" {
				t.Errorf("trusted.t = %q, %v", v, err)
			}
			if v, err := getxattr(p("bin/ping"), "security.capability"); err != nil || len(v) != 20 {
				t.Errorf("security.capability = %q, %v", v, err)
			}
			null, sda := lstat(t, p("dev/null")), lstat(t, p("dev/sda"))
			if null.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(null.Rdev) != 1 || unix.Minor(null.Rdev) != 3 || null.Mode&0o777 != 0o666 {
				t.Errorf("dev/null mode %o rdev %d:%d", null.Mode, unix.Major(null.Rdev), unix.Minor(null.Rdev))
			}
			if sda.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(sda.Rdev) != 8 {
				t.Errorf("dev/sda mode %o", sda.Mode)
			}
		})
	}
}

func TestWhiteoutsApply(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	mustApply(t, root, []ent{
		dir("a/"), file("a/f", "1"), file("a/g", "1"),
		dir("b/"), file("b/x", "1"), dir("b/deep/"), file("b/deep/y", "1"),
		dir("c/"), file("c/old", "1"), dir("c/sub/"), file("c/sub/y", "1"), file("c/keep-dir-entry", "1"),
		dir("d/"), file("d/lower", "1"),
		file("s", "1"),
	}, Options{})
	mustApply(t, root, []ent{
		file("a/.wh.f", ""),
		file(".wh.b", ""),
		file(".wh.missing", ""),
		file("nodir/.wh.x", ""),
		// c is opaque; c/sub is re-declared before the marker and c/new after.
		dir("c/"), dir("c/sub/"), file("c/sub/fresh", "2"),
		file("c/.wh..wh..opq", ""),
		file("c/new", "2"),
		// A whiteout never hides an entry of its own layer.
		file("d/same", "2"), file("d/.wh.same", ""), file("d/.wh.lower", ""),
		file(".wh..wh.plnk", ""),
		file("s", "2"),
	}, Options{})
	gone := []string{"a/f", "b", "c/old", "c/sub/y", "c/keep-dir-entry", "d/lower", ".wh..wh.plnk", "a/.wh.f", "c/.wh..wh..opq"}
	kept := map[string]string{"a/g": "1", "c/new": "2", "c/sub/fresh": "2", "d/same": "2", "s": "2"}
	for _, g := range gone {
		if exists(filepath.Join(root, g)) {
			t.Errorf("%s still exists", g)
		}
	}
	for k, v := range kept {
		if got := readFile(t, filepath.Join(root, k)); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if exists(filepath.Join(root, "nodir")) {
		t.Error("a whiteout created its parent directory")
	}
}

func TestReplaceEntries(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	p := func(s string) string { return filepath.Join(root, s) }
	mustApply(t, root, []ent{
		dir("d2f/"), dir("d2f/x/"), file("d2f/x/y", "1"), {typ: tar.TypeDir, name: "d2f/ro", mode: 0o500},
		file("f2d", "1"),
		{typ: tar.TypeDir, name: "keep/", mode: 0o700}, file("keep/child", "1"),
		symlink("l2f", "/etc"),
		file("f2l", "1"),
	}, Options{})
	mustApply(t, root, []ent{
		file("d2f", "file now"),
		dir("f2d/"),
		{typ: tar.TypeDir, name: "keep/", mode: 0o711},
		file("l2f", "file now"),
		symlink("f2l", "target"),
	}, Options{})
	if readFile(t, p("d2f")) != "file now" || readFile(t, p("l2f")) != "file now" {
		t.Error("file did not replace directory / symlink")
	}
	if st := lstat(t, p("f2d")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Error("directory did not replace file")
	}
	if st := lstat(t, p("keep")); st.Mode&0o777 != 0o711 || readFile(t, p("keep/child")) != "1" {
		t.Errorf("directory over directory: mode %o, child lost?", st.Mode&0o777)
	}
	if l, _ := os.Readlink(p("f2l")); l != "target" {
		t.Error("symlink did not replace file")
	}
}

func TestUnprivilegedReadOnlyDirs(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	// Unprivileged, a 0555 directory must stay writable while its own layer
	// fills it, and a later layer must still be able to remove it.
	opts := Options{Unprivileged: boolp(true)}
	mustApply(t, root, []ent{{typ: tar.TypeDir, name: "ro/", mode: 0o555}, {typ: tar.TypeDir, name: "ro/sub/", mode: 0o500}, file("ro/sub/f", "x")}, opts)
	if st := lstat(t, filepath.Join(root, "ro/sub")); st.Mode&0o777 != 0o500 {
		t.Errorf("mode %o", st.Mode&0o777)
	}
	mustApply(t, root, []ent{file(".wh.ro", "")}, opts)
	if exists(filepath.Join(root, "ro")) {
		t.Error("ro not removed")
	}
}

func TestOverlayWhiteouts(t *testing.T) {
	t.Parallel()
	layer := []ent{dir("d/"), file("d/.wh..wh..opq", ""), file("d/.wh.gone", ""), file("d/new", "n"), file(".wh.top", "")}
	t.Run("privileged", func(t *testing.T) {
		t.Parallel()
		requireRoot(t)
		root := tempRoot(t)
		mustApply(t, root, layer, Options{Whiteouts: WhiteoutOverlay})
		for _, n := range []string{"d/gone", "top"} {
			st := lstat(t, filepath.Join(root, n))
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("%s: mode %o rdev %d, want char 0:0", n, st.Mode, st.Rdev)
			}
		}
		if v, err := getxattr(filepath.Join(root, "d"), overlayOpaque); err != nil || v != "y" {
			t.Errorf("opaque xattr = %q, %v", v, err)
		}
		if exists(filepath.Join(root, "d/.wh.gone")) || exists(filepath.Join(root, "d/.wh..wh..opq")) {
			t.Error("marker files kept")
		}
	})
	t.Run("unprivileged", func(t *testing.T) {
		t.Parallel()
		root := tempRoot(t)
		mustApply(t, root, layer, Options{Whiteouts: WhiteoutOverlay, Unprivileged: boolp(true)})
		for _, n := range []string{"d/.wh..wh..opq", "d/.wh.gone", ".wh.top"} {
			if st := lstat(t, filepath.Join(root, n)); st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Errorf("%s is not a regular file", n)
			}
		}
		if exists(filepath.Join(root, "d/gone")) {
			t.Error("whiteout device created unprivileged")
		}
	})
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		root func(t *testing.T) string
		data []byte
		ctx  func() context.Context
		want error
	}{
		{name: "missing root", root: func(t *testing.T) string { return filepath.Join(tempRoot(t), "nope") }, want: errdefs.ErrNotFound},
		{name: "truncated tar", data: mkTar(t, []ent{file("a", strings.Repeat("x", 2000))})[:1024], want: errdefs.ErrInvalidArgument},
		{name: "cancelled", ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, want: context.Canceled},
		{name: "too large", data: mkTar(t, []ent{file("a", strings.Repeat("x", 1<<20))}), want: errdefs.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := tempRoot(t)
			if tt.root != nil {
				root = tt.root(t)
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			data := tt.data
			if data == nil {
				data = mkTar(t, []ent{file("a", "x")})
			}
			_, err := Apply(ctx, root, strings.NewReader(string(data)), Options{NoSync: true, MaxSize: 64 << 10})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
}

func TestSync(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	if _, err := Apply(context.Background(), root, strings.NewReader(string(mkTar(t, []ent{file("a", "x")}))), Options{}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(root, "a")) != "x" {
		t.Error("content missing")
	}
}

// TestOpenat2Unavailable is not parallel: it swaps the system call for one
// that fails the way old kernels and seccomp filters do.
func TestOpenat2Unavailable(t *testing.T) {
	saved := sysOpenat2
	defer func() { sysOpenat2 = saved }()
	for _, errno := range []error{unix.ENOSYS, unix.EPERM} {
		sysOpenat2 = func(int, string, *unix.OpenHow) (int, error) { return -1, errno }
		root := tempRoot(t)
		_, err := applyEnts(t, root, []ent{file("a", "x")}, Options{})
		if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "openat2") {
			t.Errorf("%v: err = %v, want a clear ErrUnsupported", errno, err)
		}
		if exists(filepath.Join(root, "a")) {
			t.Errorf("%v: extracted without openat2", errno)
		}
	}
}

func TestSkippedCounts(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	st := mustApply(t, root, []ent{
		{typ: tar.TypeSymlink, name: "l", link: "x", xattrs: map[string]string{"user.a": "1"}},
		{typ: 'V', name: "volume-label"},
		file(".wh..wh.plnk", ""),
		{typ: tar.TypeReg, name: "f", xattrs: map[string]string{"security.selinux": "system_u:object_r:bin_t:s0"}},
	}, Options{Unprivileged: boolp(true)})
	want := map[string]int{"xattr-symlink": 1, "unsupported-type": 1, "aufs-metadata": 1, "xattr-other": 1}
	for k, v := range want {
		if st.Skipped[k] != v {
			t.Errorf("Skipped[%q] = %d, want %d (%v)", k, st.Skipped[k], v, st.Skipped)
		}
	}
	if exists(filepath.Join(root, "volume-label")) || exists(filepath.Join(root, ".wh..wh.plnk")) {
		t.Error("skipped entries were extracted")
	}
}
