package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/imagec/imagec/errdefs"
	"golang.org/x/sys/unix"
)

// mode returns the permission bits to give an entry. setuid, setgid and
// sticky need privileges to mean anything safe, so they are dropped (and
// counted) when unprivileged.
func (x *extractor) mode(hdr *tar.Header) uint32 {
	m := uint32(hdr.Mode) & 0o7777
	if x.unpriv && m&0o7000 != 0 {
		x.stats.skip("special-mode-bits")
		m &^= 0o7000
	}
	return m
}

// owner returns the uid and gid to set, or ok=false when ownership is left
// as it is (unprivileged; a difference is counted).
func (x *extractor) owner(hdr *tar.Header) (uid, gid int, ok bool, err error) {
	const maxID = 1<<32 - 2 // -1 (all ones) means "unchanged" to chown
	if hdr.Uid < 0 || hdr.Uid > maxID || hdr.Gid < 0 || hdr.Gid > maxID {
		return 0, 0, false, fmt.Errorf("owner %d:%d out of range: %w", hdr.Uid, hdr.Gid, errdefs.ErrInvalidArgument)
	}
	if x.unpriv {
		if hdr.Uid != x.euid || hdr.Gid != x.egid {
			x.stats.skip("chown")
		}
		return 0, 0, false, nil
	}
	return hdr.Uid, hdr.Gid, true, nil
}

// metaFD sets owner, xattrs and mode, in that order, on an open regular
// file or directory.
func (x *extractor) metaFD(fd int, hdr *tar.Header, mode uint32) error {
	uid, gid, ok, err := x.owner(hdr)
	if err != nil {
		return err
	}
	return x.setMeta(fd, hdr, mode, uid, gid, ok)
}

// setMeta is metaFD with the owner already decided (see owner).
func (x *extractor) setMeta(fd int, hdr *tar.Header, mode uint32, uid, gid int, chown bool) error {
	if chown {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
		}
	}
	for _, xa := range x.xattrs(hdr) {
		if err := x.xattrErr(xa.name, unix.Fsetxattr(fd, xa.name, xa.value, 0), false); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod %o: %w", mode, err)
	}
	return nil
}

// chownAt sets the owner of base in parent without following a symlink.
func (x *extractor) chownAt(parent int, base string, hdr *tar.Header) error {
	uid, gid, ok, err := x.owner(hdr)
	if err != nil || !ok {
		return err
	}
	if err := unix.Fchownat(parent, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %d:%d: %w", uid, gid, err)
	}
	return nil
}

// metaAt sets owner, xattrs and mode on a device node or fifo named base in
// parent, which cannot be opened without side effects.
func (x *extractor) metaAt(parent int, base string, hdr *tar.Header, kind uint32) error {
	if err := x.chownAt(parent, base, hdr); err != nil {
		return err
	}
	for _, xa := range x.xattrs(hdr) {
		if err := x.xattrErr(xa.name, setxattrSpecial(parent, base, kind, xa), true); err != nil {
			return err
		}
	}
	mode := x.mode(hdr)
	err := unix.Fchmodat(parent, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		// No fchmodat2 (Linux < 6.6). We created this node a moment ago
		// and the root is not shared, so it is still not a symlink; check
		// anyway before using the call that would follow one.
		var st unix.Stat_t
		if serr := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); serr != nil {
			return fmt.Errorf("stat: %w", serr)
		}
		if st.Mode&unix.S_IFMT != kind {
			return fmt.Errorf("%s was replaced while being created: %w", kindName(kind), errdefs.ErrInvalidArgument)
		}
		err = unix.Fchmodat(parent, base, mode, 0)
	}
	if err != nil {
		return fmt.Errorf("chmod %o: %w", mode, err)
	}
	return nil
}

// tspec converts a tar time; the zero time leaves the timestamp alone.
func tspec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func atimeOf(hdr *tar.Header) unix.Timespec {
	if hdr.AccessTime.IsZero() {
		return tspec(hdr.ModTime)
	}
	return tspec(hdr.AccessTime)
}

// setTimes sets atime and mtime on base in parent, never following it.
func (x *extractor) setTimes(parent int, base string, hdr *tar.Header) error {
	return x.utimes(parent, base, atimeOf(hdr), tspec(hdr.ModTime))
}

func (x *extractor) utimes(parent int, base string, atime, mtime unix.Timespec) error {
	return x.timesErr(unix.UtimesNanoAt(parent, base, []unix.Timespec{atime, mtime}, unix.AT_SYMLINK_NOFOLLOW))
}

// utimesFD sets atime and mtime on the open file fd (futimens(3): no path
// to resolve again).
func (x *extractor) utimesFD(fd int, atime, mtime unix.Timespec) error {
	ts := [2]unix.Timespec{atime, mtime}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	var err error
	if errno != 0 {
		err = errno
	}
	return x.timesErr(err)
}

func (x *extractor) timesErr(err error) error {
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE) || errors.Is(err, unix.EOVERFLOW) {
		// A timestamp the filesystem cannot store is not worth failing a
		// layer for.
		x.stats.skip("times")
		return nil
	}
	if err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// dirMeta is what is applied to a directory once the layer is complete.
type dirMeta struct {
	rel          string
	id           fileID
	mode         uint32
	chmodLater   bool
	atime, mtime unix.Timespec
}

func (x *extractor) deferDir(d dirMeta) {
	if i, ok := x.dirIndex[d.rel]; ok {
		x.dirs[i] = d // the last entry for a name wins; its place stays before its children
		return
	}
	x.dirIndex[d.rel] = len(x.dirs)
	x.dirs = append(x.dirs, d)
}

// finishDirs applies deferred directory metadata, deepest last-written
// first. A directory that a later entry removed or replaced (recognized by
// its inode) is left alone.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.finishDir(d); err != nil {
			return fmt.Errorf("directory %s: %w", short(d.rel), err)
		}
	}
	return nil
}

func (x *extractor) finishDir(d dirMeta) error {
	dir, base := splitName(d.rel)
	var parent int
	var err error
	if d.rel == "." {
		parent, err = unix.Dup(x.root.fd)
	} else {
		parent, err = x.root.openDir(dir)
	}
	if err != nil {
		return nil // gone: a later entry replaced an ancestor
	}
	defer unix.Close(parent)
	var st unix.Stat_t
	if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFDIR || idOf(&st) != d.id {
		return nil
	}
	if d.chmodLater {
		fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		err = unix.Fchmod(fd, d.mode)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("chmod %o: %w", d.mode, err)
		}
	}
	return x.utimes(parent, base, d.atime, d.mtime)
}
