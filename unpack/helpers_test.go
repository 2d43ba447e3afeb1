package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent describes one tar entry of a test layer. Zero fields get defaults:
// mode 0644 (0755 for directories), the Unix epoch plus one day as mtime.
type ent struct {
	typ          byte
	name, link   string
	body         string
	mode         int64
	uid, gid     int
	mtime        time.Time
	xattrs       map[string]string
	major, minor int64
}

var testTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func dir(name string) ent             { return ent{typ: tar.TypeDir, name: name} }
func file(name, body string) ent      { return ent{typ: tar.TypeReg, name: name, body: body} }
func symlink(name, target string) ent { return ent{typ: tar.TypeSymlink, name: name, link: target} }
func hardlink(name, target string) ent {
	return ent{typ: tar.TypeLink, name: name, link: target}
}

func mkTar(t testing.TB, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		hdr := &tar.Header{
			Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: e.mtime, Devmajor: e.major, Devminor: e.minor,
			Format: tar.FormatPAX,
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if e.typ == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if hdr.ModTime.IsZero() {
			hdr.ModTime = testTime
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[paxXattr+k] = v
		}
		raw := false
		if err := tw.WriteHeader(hdr); err != nil {
			// archive/tar refuses some headers (a file name with a trailing
			// slash); hostile layers contain them anyway.
			if len(e.name) >= 100 || len(e.link) >= 100 || len(hdr.PAXRecords) > 0 {
				t.Fatalf("tar header %q: %v", e.name, err)
			}
			writeRawHeader(&buf, hdr)
			raw = true
		}
		if hdr.Size > 0 {
			if raw {
				buf.WriteString(e.body)
				buf.Write(make([]byte, (512-len(e.body)%512)%512))
			} else if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeRawHeader writes a ustar header block for hdr (short names, no
// PAX records) without archive/tar's validation.
func writeRawHeader(buf *bytes.Buffer, hdr *tar.Header) {
	var b [512]byte
	octal := func(field []byte, v int64) {
		s := fmt.Sprintf("%0*o", len(field)-1, v)
		copy(field, s)
	}
	copy(b[0:100], hdr.Name)
	octal(b[100:108], hdr.Mode)
	octal(b[108:116], int64(hdr.Uid))
	octal(b[116:124], int64(hdr.Gid))
	octal(b[124:136], hdr.Size)
	octal(b[136:148], hdr.ModTime.Unix())
	b[156] = hdr.Typeflag
	copy(b[157:257], hdr.Linkname)
	copy(b[257:265], "ustar\x0000")
	octal(b[329:337], hdr.Devmajor)
	octal(b[337:345], hdr.Devminor)
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	buf.Write(b[:])
}

func boolp(b bool) *bool { return &b }

func applyEnts(t testing.TB, root string, ents []ent, opts Options) (Stats, error) {
	t.Helper()
	opts.NoSync = true
	return Apply(context.Background(), root, bytes.NewReader(mkTar(t, ents)), opts)
}

func mustApply(t testing.TB, root string, ents []ent, opts Options) Stats {
	t.Helper()
	st, err := applyEnts(t, root, ents, opts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return st
}

func lstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func getxattr(p, name string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// snapshot records everything observable about the tree at dir, except the
// subtree skip (the root the layer went into) whose own inode and type are
// recorded instead. ctime is included: it changes on any chmod, chown,
// xattr or content change, even one that restores the old value.
func snapshot(t testing.TB, dir, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if p == skip {
			out[p] = fmt.Sprintf("root ino=%d mode=%o", st.Ino, st.Mode&unix.S_IFMT)
			return fs.SkipDir
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d size=%d nlink=%d mtime=%d.%d ctime=%d.%d ino=%d",
			st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec, st.Ino)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " sha256=" + hex.EncodeToString(sum[:])
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + l
		}
		desc += " xattrs=" + listXattrs(p)
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

func listXattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "err:" + err.Error()
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v, _ := getxattr(p, name)
		names = append(names, name+"="+v)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func diffSnapshots(before, after map[string]string) []string {
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if v != w {
			diffs = append(diffs, fmt.Sprintf("changed %s:\n  %s\n  %s", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "appeared "+k)
		}
	}
	sort.Strings(diffs)
	return diffs
}

// sandbox is a temporary directory holding the root a layer goes into and
// sentinels beside it that no layer may touch.
type sandbox struct {
	tmp, root, outside, sentinel string
}

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	tmp := tempRoot(t)
	s := sandbox{
		tmp:      tmp,
		root:     filepath.Join(tmp, "root"),
		outside:  filepath.Join(tmp, "outside"),
		sentinel: filepath.Join(tmp, "outside", "sentinel"),
	}
	for _, d := range []string{s.root, s.outside, filepath.Join(s.outside, "dir")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{s.sentinel, filepath.Join(s.outside, "dir", "inner")} {
		if err := os.WriteFile(f, []byte("SENTINEL"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := unix.Lsetxattr(f, "user.sentinel", []byte("1"), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, testTime, testTime); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s sandbox) snapshot(t testing.TB) map[string]string { return snapshot(t, s.tmp, s.root) }

// tempRoot is t.TempDir, made removable again by a non-root user after a
// layer left directories without write permission in it.
func tempRoot(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
	})
	return dir
}
