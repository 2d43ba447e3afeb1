package layers

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	overlayOpaque  = "trusted.overlay.opaque"
)

// fileKey identifies an inode.
type fileKey struct{ dev, ino uint64 }

// walker visits a layer directory in lexical order, one record line per
// entry. The same walk makes the record, checks a tree against it, and
// streams the tree as a tar, so the three cannot disagree about what an
// entry is.
type walker struct {
	diff string
	// line receives each entry's record line: a recordWriter's add, or a
	// recordReader's expect.
	line func(string) error
	// tw, when set, receives the layer as an OCI layer tar.
	tw *tar.Writer
	// sums are content digests the extractor reported as it wrote the
	// files, by inode; a file not among them (or any, when nil) is read.
	sums  map[fileKey][sha256.Size]byte
	links map[fileKey]string // first name of each multiply linked file
	h     hash.Hash
	buf   []byte
}

func newWalker(diff string, line func(string) error) *walker {
	return &walker{diff: diff, line: line, links: map[fileKey]string{}, h: sha256.New(), buf: make([]byte, 1<<20)}
}

// writeTar streams the layer directory diff as an OCI layer tar, checking
// every entry against the layer's record as it goes: overlayfs whiteouts
// (character devices 0:0) become ".wh." entries and opaque directories get
// the opaque marker, so that the extractor applies them. On the first
// difference it fails before the tar's end, so whoever reads the tar sees
// an error, never a clean end.
func writeTar(ctx context.Context, w io.Writer, diff string, rec *recordReader) error {
	wk := newWalker(diff, rec.expect)
	wk.tw = tar.NewWriter(w)
	if err := wk.walk(ctx); err != nil {
		return err
	}
	if err := rec.end(); err != nil {
		return err
	}
	return wk.tw.Close()
}

// verifyTree compares the layer directory diff with its record.
func verifyTree(ctx context.Context, diff string, rec *recordReader) error {
	if err := newWalker(diff, rec.expect).walk(ctx); err != nil {
		return err
	}
	return rec.end()
}

// recordTree writes the record of a layer directory the extractor has just
// made, with the content digests it reported.
func recordTree(ctx context.Context, diff string, sums map[fileKey][sha256.Size]byte, rw *recordWriter) error {
	wk := newWalker(diff, rw.add)
	wk.sums = sums
	return wk.walk(ctx)
}

func (wk *walker) walk(ctx context.Context) error {
	return filepath.WalkDir(wk.diff, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(wk.diff, path)
		if err != nil {
			return err
		}
		return wk.entry(path, filepath.ToSlash(rel), d)
	})
}

func (wk *walker) entry(path, name string, d fs.DirEntry) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no stat data", path)
	}
	key := fileKey{st.Dev, st.Ino}
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		if first, ok := wk.links[key]; ok {
			if err := wk.line(hardlinkLine(name, first)); err != nil {
				return err
			}
			return wk.header(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: first, Format: tar.FormatPAX})
		}
		wk.links[key] = name
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	xa := xattrs(path)
	if name == "." {
		// The root's own metadata is recorded but not streamed: it is
		// the directory the layer is applied onto. Its being opaque is
		// streamed: it hides everything the layers below put there.
		if xa[overlayOpaque] == "y" {
			if err := wk.header(&tar.Header{Typeflag: tar.TypeReg, Name: opaqueMarker, ModTime: fi.ModTime(), Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return wk.line(entryLine(name, fi, st, link, xa, nil))
	}
	var sum []byte
	if fi.Mode().IsRegular() {
		if sum, err = wk.content(path, name, fi, st, key, xa); err != nil {
			return err
		}
	} else if err := wk.other(name, fi, st, link, xa); err != nil {
		return err
	}
	return wk.line(entryLine(name, fi, st, link, xa, sum))
}

// content streams a regular file (when writing a tar) and returns the
// digest of its content: the one the extractor reported, or read.
func (wk *walker) content(path, name string, fi fs.FileInfo, st *syscall.Stat_t, key fileKey, xa map[string]string) ([]byte, error) {
	var dst io.Writer = wk.h
	if wk.tw != nil {
		hdr, err := fileHeader(name, fi, st, "", xa)
		if err != nil {
			return nil, err
		}
		if err := wk.tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		dst = io.MultiWriter(wk.tw, wk.h)
	} else if s, ok := wk.sums[key]; ok {
		return s[:], nil
	}
	wk.h.Reset()
	if fi.Size() == 0 {
		return wk.h.Sum(nil), nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A plain loop on our buffer: io.CopyBuffer would hand the copy to
	// os.File.WriteTo, which allocates a buffer per file.
	for {
		n, err := f.Read(wk.buf)
		if n > 0 {
			if _, werr := dst.Write(wk.buf[:n]); werr != nil {
				return nil, werr
			}
		}
		if err == io.EOF {
			return wk.h.Sum(nil), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// other streams an entry that is not a regular file, when writing a tar.
func (wk *walker) other(name string, fi fs.FileInfo, st *syscall.Stat_t, link string, xa map[string]string) error {
	if wk.tw == nil {
		return nil
	}
	if fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0 {
		return wk.header(&tar.Header{Typeflag: tar.TypeReg, Name: whiteoutName(name), ModTime: fi.ModTime(), Format: tar.FormatPAX})
	}
	hdr, err := fileHeader(name, fi, st, link, xa)
	if err != nil {
		return err
	}
	if err := wk.header(hdr); err != nil {
		return err
	}
	if fi.IsDir() && xa[overlayOpaque] == "y" {
		return wk.header(&tar.Header{Typeflag: tar.TypeReg, Name: name + "/" + opaqueMarker, ModTime: fi.ModTime(), Format: tar.FormatPAX})
	}
	return nil
}

func (wk *walker) header(hdr *tar.Header) error {
	if wk.tw == nil {
		return nil
	}
	return wk.tw.WriteHeader(hdr)
}

// fileHeader is the tar header of an entry; overlay xattrs are left out
// (the extractor sets the opaque one itself from the marker).
func fileHeader(name string, fi fs.FileInfo, st *syscall.Stat_t, link string, xa map[string]string) (*tar.Header, error) {
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return nil, err
	}
	hdr.Name, hdr.Format = name, tar.FormatPAX
	hdr.Uname, hdr.Gname = "", ""
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	hdr.AccessTime = time.Unix(st.Atim.Unix())
	hdr.ChangeTime = time.Time{}
	hdr.PAXRecords = map[string]string{}
	for k, v := range xa {
		if strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") {
			continue
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	if fi.IsDir() {
		hdr.Name += "/"
	}
	return hdr, nil
}

func whiteoutName(name string) string {
	dir, base := filepath.Split(name)
	return dir + whiteoutPrefix + base
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// xattrs reads the extended attributes of path without following a symlink.
func xattrs(path string) map[string]string {
	size, err := unix.Llistxattr(path, nil)
	if err != nil || size <= 0 {
		return nil
	}
	list := make([]byte, size)
	if size, err = unix.Llistxattr(path, list); err != nil {
		return nil
	}
	out := map[string]string{}
	for _, k := range strings.Split(strings.TrimRight(string(list[:size]), "\x00"), "\x00") {
		if k == "" {
			continue
		}
		n, err := unix.Lgetxattr(path, k, nil)
		if err != nil {
			continue
		}
		v := make([]byte, n)
		if n, err = unix.Lgetxattr(path, k, v); err != nil {
			continue // changed or gone since it was sized
		}
		out[k] = string(v[:n])
	}
	return out
}
