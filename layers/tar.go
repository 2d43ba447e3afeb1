package layers

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// writeTar streams the layer directory diff as an OCI layer tar: overlayfs
// whiteouts (character devices 0:0) become ".wh." entries and opaque
// directories get the opaque marker, so that the extractor applies them.
func writeTar(ctx context.Context, w io.Writer, diff string) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(diff, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(diff, path)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		name := filepath.ToSlash(rel)
		if fi.Mode()&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0 {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: whiteoutName(name), ModTime: fi.ModTime(), Format: tar.FormatPAX})
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Format = name, tar.FormatPAX
		hdr.Uname, hdr.Gname = "", ""
		if st != nil {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			hdr.AccessTime = time.Unix(st.Atim.Unix())
			hdr.ChangeTime = time.Time{}
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := links[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					links[key] = name
				}
			}
		}
		opaque := false
		hdr.PAXRecords = map[string]string{}
		for k, v := range xattrs(path) {
			if k == overlayOpaque {
				opaque = v == "y"
				continue
			}
			if strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") {
				continue
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(tw, f, buf)
			f.Close()
			if err != nil {
				return err
			}
		}
		if opaque {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name + "/" + opaqueMarker, ModTime: fi.ModTime(), Format: tar.FormatPAX})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func whiteoutName(name string) string {
	dir, base := filepath.Split(name)
	return dir + whiteoutPrefix + base
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
