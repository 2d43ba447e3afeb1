package unpack

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// escapeCase is one crafted attack on the extractor: layers applied in
// order to s.root, with s.outside (holding s.sentinel) beside it.
type escapeCase struct {
	name string
	// setup prepares the root before the layers (content a benign lower
	// layer could have left), optional.
	setup  func(t *testing.T, s sandbox)
	layers func(s sandbox) [][]ent
	// mustFail: the layers must be refused in every mode.
	mustFail bool
	// check asserts where a successful write landed, optional.
	check func(t *testing.T, s sandbox, m escapeMode)
}

type escapeMode struct {
	name   string
	opts   Options
	unpriv bool
}

func one(ents ...ent) func(sandbox) [][]ent {
	return func(sandbox) [][]ent { return [][]ent{ents} }
}

func inRoot(s sandbox, rel string) string { return filepath.Join(s.root, rel) }

func wantContent(rel, want string) func(*testing.T, sandbox, escapeMode) {
	return func(t *testing.T, s sandbox, _ escapeMode) {
		t.Helper()
		if got := readFile(t, inRoot(s, rel)); got != want {
			t.Errorf("%s = %q, want %q", rel, got, want)
		}
	}
}

func wantType(rel string, typ uint32) func(*testing.T, sandbox, escapeMode) {
	return func(t *testing.T, s sandbox, _ escapeMode) {
		t.Helper()
		if st := lstat(t, inRoot(s, rel)); st.Mode&unix.S_IFMT != typ {
			t.Errorf("%s has type %o, want %o", rel, st.Mode&unix.S_IFMT, typ)
		}
	}
}

func mkdirRoot(rel string) func(*testing.T, sandbox) {
	return func(t *testing.T, s sandbox) {
		if err := os.MkdirAll(inRoot(s, rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

const evil = "EVIL"

var escapeCases = []escapeCase{
	// --- names ---
	{name: "dotdot name (zip-slip; kubectl cp CVE-2018-1002100; GNU tar CVE-2001-1267)",
		layers: one(file("../outside/sentinel", evil)), mustFail: true},
	{name: "dotdot after a directory (GNU tar CVE-2016-6321 POINTYFEATHER)",
		layers: one(dir("a/"), file("a/../../outside/sentinel", evil)), mustFail: true},
	{name: "dot-slash then dotdot",
		layers: one(file("./../outside/sentinel", evil)), mustFail: true},
	{name: "long dotdot name carried in a PAX path record",
		layers: one(file(strings.Repeat("a/", 60)+strings.Repeat("../", 61)+"outside/sentinel", evil)), mustFail: true},
	{name: "absolute host path (node-tar CVE-2021-32804; docker CVE-2014-9356)",
		layers: func(s sandbox) [][]ent { return [][]ent{{file(s.sentinel, evil)}} },
		check: func(t *testing.T, s sandbox, m escapeMode) {
			wantContent(strings.TrimPrefix(s.sentinel, "/"), evil)(t, s, m)
		}},
	{name: "absolute name climbing with /..",
		layers: one(file("/../../outside/sentinel", evil)), check: wantContent("outside/sentinel", evil)},
	{name: "component longer than NAME_MAX",
		layers: one(file(strings.Repeat("x", 300), evil)), mustFail: true},
	{name: "path longer than PATH_MAX",
		layers: one(file(strings.Repeat(strings.Repeat("y", 50)+"/", 100)+"f", evil)), mustFail: true},
	{name: "deep but legal path",
		layers: one(file(strings.Repeat("a/", 300)+"f", evil)), check: wantContent(strings.Repeat("a/", 300)+"f", evil)},
	{name: "NUL-free weird names stay names",
		layers: one(file("a\nb", evil), file("...", evil), file("..a", evil), file(`\..\outside\sentinel`, evil),
			file("C:\\evil", evil), file(" ", evil), file("-rf", evil), file(".wh", evil), file("ü", evil)),
		check: wantContent(`\..\outside\sentinel`, evil)},
	{name: "regular file named .", layers: one(file(".", evil)), mustFail: true},
	{name: "regular file named /", layers: one(file("/", evil)), mustFail: true},
	{name: "symlink named ./ pointing outside", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("./", s.outside)}}
	}, mustFail: true},
	{name: "directory named ..", layers: one(dir("../")), mustFail: true},
	{name: "fifo named //", layers: one(ent{typ: tar.TypeFifo, name: "//"}), mustFail: true},
	{name: "root directory entry only changes the root",
		layers: one(ent{typ: tar.TypeDir, name: "./", mode: 0o777, uid: 4242, gid: 4242})},

	// --- symlinks written through ---
	{name: "symlink to / then write through (docker CVE-2014-9356)", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", "/"), file("l"+s.sentinel, evil)}}
	}, check: func(t *testing.T, s sandbox, m escapeMode) {
		wantContent(strings.TrimPrefix(s.sentinel, "/"), evil)(t, s, m)
	}},
	{name: "symlink to the host's outside dir then write (docker CVE-2014-6407)", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.outside), file("l/sentinel", evil)}}
	}},
	{name: "symlink to the host path, root mimics the host", setup: func(t *testing.T, s sandbox) {
		mkdirRoot(strings.TrimPrefix(s.outside, "/"))(t, s)
	}, layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.outside), file("l/sentinel", evil)}}
	}, check: func(t *testing.T, s sandbox, m escapeMode) {
		wantContent(strings.TrimPrefix(s.sentinel, "/"), evil)(t, s, m)
	}},
	{name: "symlink to ../../.. then write",
		layers: one(symlink("l", "../../.."), file("l/outside/sentinel", evil)), check: wantContent("outside/sentinel", evil)},
	{name: "symlink to ../outside then write",
		layers: one(symlink("l", "../outside"), file("l/sentinel", evil))},
	{name: "symlink chain climbing out",
		layers: one(symlink("a", "b"), symlink("b", "c/../d"), dir("c/"), symlink("d", "../../../"), file("a/outside/sentinel", evil)),
		check:  wantContent("outside/sentinel", evil)},
	{name: "symlink loop", layers: one(symlink("a", "b"), symlink("b", "a"), file("a/x", evil)), mustFail: true},
	{name: "dangling symlink as a parent", layers: one(symlink("l", "nowhere"), file("l/x", evil)), mustFail: true},
	{name: "magic link target /proc/self/root (runc CVE-2019-5736 family)", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("p", "/proc/self/root"), file("p"+s.sentinel, evil)}}
	}},
	{name: "final symlink is replaced, not followed (node-tar CVE-2021-32803)", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.sentinel), file("l", evil)}}
	}, check: wantContent("l", evil)},
	{name: "final relative symlink replaced by a file with xattrs",
		layers: one(symlink("l", "../outside/sentinel"),
			ent{typ: tar.TypeReg, name: "l", body: evil, xattrs: map[string]string{"user.evil": "1"}}),
		check: wantContent("l", evil)},
	{name: "trailing slash on a name whose symlink points outside", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.sentinel), file("l/", evil)}}
	}, check: wantContent("l", evil)},
	{name: "directory replaced by symlink in the same layer, then written through (node-tar CVE-2021-37701; moby CVE-2018-15664 class)",
		layers: one(dir("d/"), file("d/x", "1"), symlink("d", "/"), file("d/sentinel", evil)),
		check:  wantContent("sentinel", evil)},
	{name: "second layer turns a directory into a symlink outside, then writes into it", layers: func(s sandbox) [][]ent {
		return [][]ent{
			{dir("d/"), file("d/x", "1")},
			{symlink("d", "../../../"+strings.TrimPrefix(s.outside, "/")), file("d/sentinel", evil)},
		}
	}},
	{name: "second layer: directory to symlink to ../.., then write",
		layers: func(sandbox) [][]ent {
			return [][]ent{{dir("d/"), file("d/x", "1")}, {symlink("d", "../.."), file("d/outside/sentinel", evil)}}
		}, check: wantContent("outside/sentinel", evil)},

	// --- metadata through a final symlink ---
	{name: "chmod/chown/utimes/xattrs on a symlink entry pointing outside (containerd CVE-2021-32760)", layers: func(s sandbox) [][]ent {
		return [][]ent{{{typ: tar.TypeSymlink, name: "l", link: s.sentinel, mode: 0o777, uid: 4242, gid: 4242,
			mtime: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), xattrs: map[string]string{"user.evil": "1", "trusted.evil": "1"}}}}
	}, check: wantType("l", unix.S_IFLNK)},
	{name: "directory entry over a symlink to an outside directory (containerd CVE-2021-32760)", layers: func(s sandbox) [][]ent {
		return [][]ent{
			{symlink("d", s.outside), symlink("e", "../outside")},
			{{typ: tar.TypeDir, name: "d/", mode: 0o777, uid: 4242, xattrs: map[string]string{"user.evil": "1"}},
				{typ: tar.TypeDir, name: "e", mode: 0o777, uid: 4242}},
		}
	}, check: wantType("d", unix.S_IFDIR)},
	{name: "trusted.overlay xattrs injected by the layer", layers: func(s sandbox) [][]ent {
		return [][]ent{{{typ: tar.TypeReg, name: "f", body: evil, xattrs: map[string]string{
			"trusted.overlay.redirect": s.outside, "trusted.overlay.metacopy": "", "user.overlay.redirect": s.outside}}}}
	}, check: func(t *testing.T, s sandbox, _ escapeMode) {
		for _, n := range []string{"trusted.overlay.redirect", "trusted.overlay.metacopy", "user.overlay.redirect"} {
			if _, err := getxattr(inRoot(s, "f"), n); err == nil {
				t.Errorf("%s applied", n)
			}
		}
	}},

	// --- hardlinks ---
	{name: "hardlink to an absolute host path (docker CVE-2014-6407)", layers: func(s sandbox) [][]ent {
		return [][]ent{{hardlink("h", s.sentinel), file("h", evil)}}
	}, mustFail: true},
	{name: "hardlink target ../outside/sentinel",
		layers: one(hardlink("h", "../outside/sentinel")), mustFail: true},
	{name: "hardlink target ../../etc/passwd",
		layers: one(hardlink("h", "../../etc/passwd")), mustFail: true},
	{name: "hardlink target climbing after a directory",
		layers: one(dir("a/"), hardlink("h", "a/../../outside/sentinel")), mustFail: true},
	{name: "hardlink through a symlinked parent pointing outside", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.outside), hardlink("h", "l/sentinel")}}
	}, mustFail: true},
	{name: "hardlink through a symlinked parent, root mimics the host", setup: func(t *testing.T, s sandbox) {
		mkdirRoot("outside")(t, s)
		if err := os.WriteFile(inRoot(s, "outside/sentinel"), []byte("inner"), 0o644); err != nil {
			t.Fatal(err)
		}
	}, layers: one(symlink("l", "../../.."), hardlink("h", "l/outside/sentinel")),
		check: func(t *testing.T, s sandbox, _ escapeMode) {
			if lstat(t, inRoot(s, "h")).Ino != lstat(t, inRoot(s, "outside/sentinel")).Ino {
				t.Error("h is not linked to the root's own outside/sentinel")
			}
		}},
	{name: "hardlink named through a symlinked parent",
		layers: one(file("f", "1"), symlink("l", "/"), hardlink("l/h", "f")),
		check: func(t *testing.T, s sandbox, _ escapeMode) {
			if lstat(t, inRoot(s, "h")).Ino != lstat(t, inRoot(s, "f")).Ino {
				t.Error("h not linked inside the root")
			}
		}},
	{name: "hardlink then overwrite does not write through the link",
		layers: one(file("f", "orig"), hardlink("h", "f"), file("h", evil)),
		check: func(t *testing.T, s sandbox, m escapeMode) {
			wantContent("f", "orig")(t, s, m)
			wantContent("h", evil)(t, s, m)
		}},
	{name: "hardlink to a symlink pointing outside, then write the link's name", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("s", s.sentinel), hardlink("h", "s"), file("h", evil)}}
	}, check: wantContent("h", evil)},
	{name: "hardlink to a directory", layers: one(dir("d/"), hardlink("h", "d")), mustFail: true},
	{name: "hardlink to the root", layers: one(hardlink("h", "/")), mustFail: true},

	// --- whiteouts ---
	{name: "whiteout .wh.. (names the directory itself)", layers: one(file("a/.wh..", "")), mustFail: true},
	{name: "whiteout .wh... (names the parent)", layers: one(file("a/.wh...", "")), mustFail: true},
	{name: "whiteout .wh. (empty name)", layers: one(file(".wh.", "")), mustFail: true},
	{name: "whiteout path with ../", layers: one(file("../outside/.wh.sentinel", "")), mustFail: true},
	{name: "whiteout path climbing after a directory", layers: one(file("a/../../outside/.wh.sentinel", "")), mustFail: true},
	{name: "whiteout of an absolute host path", layers: func(s sandbox) [][]ent {
		return [][]ent{{file(s.outside+"/.wh.sentinel", "")}}
	}},
	{name: "whiteout through a symlinked directory (umoci CVE-2021-29136)", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.outside)}, {file("l/.wh.sentinel", ""), file("l/dir/.wh.inner", "")}}
	}},
	{name: "whiteout through a relative symlink, root mimics the host", setup: func(t *testing.T, s sandbox) {
		mkdirRoot("outside")(t, s)
		if err := os.WriteFile(inRoot(s, "outside/sentinel"), []byte("inner"), 0o644); err != nil {
			t.Fatal(err)
		}
	}, layers: func(sandbox) [][]ent {
		return [][]ent{{symlink("l", "../outside")}, {file("l/.wh.sentinel", "")}}
	}, check: func(t *testing.T, s sandbox, m escapeMode) {
		if m.opts.Whiteouts == WhiteoutApply && exists(inRoot(s, "outside/sentinel")) {
			t.Error("the whiteout did not land inside the root")
		}
	}},
	{name: "whiteout of a symlink to an outside directory removes only the link", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.outside), symlink("r", "../outside")}, {file(".wh.l", ""), file(".wh.r", "")}}
	}},
	{name: "whiteout of a directory holding symlinks to outside", layers: func(s sandbox) [][]ent {
		return [][]ent{{dir("d/"), symlink("d/abs", s.outside), symlink("d/rel", "../../outside"), hardlink("d/h", "d/abs")}, {file(".wh.d", "")}}
	}},
	{name: "opaque whiteout in a symlinked directory", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.outside), symlink("r", "/")}, {file("l/.wh..wh..opq", "")}}
	}},
	{name: "opaque whiteout through a symlink to /", layers: func(s sandbox) [][]ent {
		return [][]ent{{file("lower", "1"), symlink("r", "/")}, {file("r/.wh..wh..opq", "")}}
	}},
	{name: "opaque directory holding symlinks to outside", layers: func(s sandbox) [][]ent {
		return [][]ent{{dir("d/"), symlink("d/abs", s.outside), symlink("d/rel", "../../outside")}, {file("d/.wh..wh..opq", "")}}
	}},
	{name: "file replaces a symlink to an outside directory (no recursion through it)", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("d", s.outside)}, {file("d", evil)}}
	}, check: wantContent("d", evil)},

	// --- device nodes and fifos ---
	{name: "device node named through a symlinked parent",
		layers: one(symlink("l", "/"), ent{typ: tar.TypeChar, name: "l/null", mode: 0o666, major: 1, minor: 3}),
		check: func(t *testing.T, s sandbox, m escapeMode) {
			if !m.unpriv {
				wantType("null", unix.S_IFCHR)(t, s, m)
			}
		}},
	{name: "device node through a symlink to the host's outside dir", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("l", s.outside), ent{typ: tar.TypeBlock, name: "l/sentinel", major: 8}}}
	}},
	{name: "fifo replaces a symlink to an outside file", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("n", s.sentinel), ent{typ: tar.TypeFifo, name: "n", mode: 0o666, uid: 4242}}}
	}, check: wantType("n", unix.S_IFIFO)},
	{name: "char device replaces a symlink to an outside file", layers: func(s sandbox) [][]ent {
		return [][]ent{{symlink("n", "../outside/sentinel"), ent{typ: tar.TypeChar, name: "n", major: 1, minor: 3,
			xattrs: map[string]string{"user.x": "1"}}}}
	}},
}

func escapeModes(t *testing.T) []escapeMode {
	var modes []escapeMode
	for _, w := range []WhiteoutMode{WhiteoutApply, WhiteoutOverlay} {
		for _, unpriv := range []bool{false, true} {
			if !unpriv && os.Geteuid() != 0 {
				continue
			}
			name := map[WhiteoutMode]string{WhiteoutApply: "apply", WhiteoutOverlay: "overlay"}[w] +
				map[bool]string{false: "-privileged", true: "-unprivileged"}[unpriv]
			modes = append(modes, escapeMode{name: name, unpriv: unpriv,
				opts: Options{Whiteouts: w, Unprivileged: boolp(unpriv), NoSync: true}})
		}
	}
	return modes
}

// TestEscapes applies every crafted layer in every mode and checks that
// nothing outside the root changed and that any error is one line.
func TestEscapes(t *testing.T) {
	requireJail(t)
	t.Parallel()
	if len(escapeCases) < 30 {
		t.Fatalf("only %d escape cases", len(escapeCases))
	}
	for _, tc := range escapeCases {
		for _, m := range escapeModes(t) {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				s := newSandbox(t)
				if tc.setup != nil {
					tc.setup(t, s)
				}
				before := s.snapshot(t)
				var err error
				for _, l := range tc.layers(s) {
					if _, err = applyEnts(t, s.root, l, m.opts); err != nil {
						break
					}
				}
				if d := diffSnapshots(before, s.snapshot(t)); len(d) > 0 {
					t.Fatalf("outside the root changed (err=%v):\n%s", err, strings.Join(d, "\n"))
				}
				if readFile(t, s.sentinel) != "SENTINEL" {
					t.Fatal("sentinel content changed")
				}
				switch {
				case err != nil && strings.Contains(err.Error(), "\n"):
					t.Errorf("error is not one line: %q", err)
				case err != nil && !strings.HasPrefix(err.Error(), "unpack into "+s.root+": entry "):
					t.Errorf("error does not name the entry: %v", err)
				case err == nil && tc.mustFail:
					t.Error("layer accepted, want it refused")
				case err == nil && tc.check != nil:
					tc.check(t, s, m)
				}
				if testing.Verbose() && err != nil {
					t.Log(err)
				}
			})
		}
	}
}
