// Package safefs works on files inside a directory tree without ever
// following a symbolic link below the tree's root. imagec's store is a
// directory other programs (and other users, for a shared store) can write
// to; a symlink planted at an ingest file, a blob or a directory on the way
// must never turn a write into one outside the store, nor make a read
// return someone else's file. Every lookup goes through openat2(2) with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS from a descriptor of the root, and the
// last component is acted on with an *at call that does not follow it.
//
// The root itself may be a symlink (a store moved to another disk); only
// what lies below it is held to the rule.
package safefs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// resolve keeps a lookup below the starting directory and refuses every
// symbolic link on the way, the last component included.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// ErrSymlink is wrapped by the errors of lookups that met a symbolic link
// (or a path that climbs out of the root), so callers can tell a planted
// link from an ordinary failure.
var ErrSymlink = errors.New("symbolic link or path outside the root refused")

// Openat2 is openat2(2) retried on EAGAIN (a concurrent rename seen during a
// restricted walk) and EINTR, a bounded number of times.
func Openat2(dirfd int, name string, how *unix.OpenHow) (int, error) {
	var err error
	for range 32 {
		var fd int
		fd, err = unix.Openat2(dirfd, name, how)
		if err == nil {
			return fd, nil
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	return -1, err
}

// Root is a directory tree whose paths are resolved without symlinks.
type Root struct {
	dir string
}

// New returns the tree rooted at dir (an absolute path).
func New(dir string) Root { return Root{dir: dir} }

// Dir returns the root's path.
func (r Root) Dir() string { return r.dir }

// Join returns the path of rel below the root, for messages and for other
// programs; Root's own methods never open it by that path.
func (r Root) Join(rel string) string { return filepath.Join(r.dir, filepath.FromSlash(rel)) }

// withDir runs fn with a descriptor of rel's parent directory (resolved
// without symlinks) and rel's last component.
func (r Root) withDir(rel string, fn func(dirfd int, base string) error) error {
	dir, base := path.Split(path.Clean(rel))
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("%s: not a file name below the root: %w", r.Join(rel), ErrSymlink)
	}
	fd, err := r.openDir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd, base)
}

// openDir opens directory rel ("" or "." for the root) as an O_PATH
// descriptor.
func (r Root) openDir(rel string) (int, error) {
	rootfd, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, pathErr("open", r.dir, err)
	}
	if rel == "" || rel == "." {
		return rootfd, nil
	}
	defer unix.Close(rootfd)
	fd, err := Openat2(rootfd, rel, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return -1, pathErr("open", r.Join(rel), err)
	}
	return fd, nil
}

// OpenFile opens rel with flags (os.O_* values; O_CREATE uses perm). No
// symlink is followed, the last component included.
func (r Root) OpenFile(rel string, flags int, perm fs.FileMode) (*os.File, error) {
	fd, err := r.open(rel, flags, perm)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), r.Join(rel)), nil
}

func (r Root) open(rel string, flags int, perm fs.FileMode) (int, error) {
	rootfd, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, pathErr("open", r.dir, err)
	}
	defer unix.Close(rootfd)
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Mode:    uint64(perm.Perm()),
		Resolve: resolve,
	}
	fd, err := Openat2(rootfd, path.Clean(rel), &how)
	if err != nil {
		return -1, pathErr("open", r.Join(rel), err)
	}
	return fd, nil
}

// OpenRegular opens rel read-only and fails (wrapping ErrNotRegular) unless
// it is a regular file: a directory, device or FIFO named like a blob is
// not one. It never blocks on a FIFO.
func (r Root) OpenRegular(rel string) (*os.File, fs.FileInfo, error) {
	fd, err := r.open(rel, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, nil, pathErr("stat", r.Join(rel), err)
	}
	if !IsRegular(st) {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("%s: %w", r.Join(rel), ErrNotRegular)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, nil, pathErr("open", r.Join(rel), err)
	}
	f := os.NewFile(uintptr(fd), r.Join(rel))
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// ErrNotRegular is wrapped when a file that must be a regular file is not.
var ErrNotRegular = errors.New("not a regular file")

// Lstat describes rel itself, never what a symlink there points to.
func (r Root) Lstat(rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := r.withDir(rel, func(dirfd int, base string) error {
		if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return pathErr("lstat", r.Join(rel), err)
		}
		return nil
	})
	return st, err
}

// MkdirAll creates directory rel and its missing parents with perm. An
// existing component that is not a directory (a symlink included) fails.
func (r Root) MkdirAll(rel string, perm fs.FileMode) error {
	rel = path.Clean(rel)
	if rel == "." || rel == "" {
		return nil
	}
	var made string
	for _, part := range strings.Split(rel, "/") {
		next := path.Join(made, part)
		err := r.withDir(next, func(dirfd int, base string) error {
			err := unix.Mkdirat(dirfd, base, uint32(perm.Perm()))
			if err == nil || err != unix.EEXIST {
				return pathErr("mkdir", r.Join(next), err)
			}
			var st unix.Stat_t
			if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return pathErr("mkdir", r.Join(next), err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return fmt.Errorf("mkdir %s: exists and is not a directory: %w", r.Join(next), ErrSymlink)
			}
			return nil
		})
		if err != nil {
			return err
		}
		made = next
	}
	return nil
}

// Remove removes the file or empty directory rel; a symlink there is
// removed itself, never its target.
func (r Root) Remove(rel string) error {
	return r.withDir(rel, func(dirfd int, base string) error {
		err := unix.Unlinkat(dirfd, base, 0)
		if err == unix.EISDIR {
			err = unix.Unlinkat(dirfd, base, unix.AT_REMOVEDIR)
		}
		return pathErr("remove", r.Join(rel), err)
	})
}

// Rename moves oldRel to newRel, replacing a file (or symlink) there; a
// symlink at oldRel is moved itself. Neither path follows a symlink on the
// way.
func (r Root) Rename(oldRel, newRel string) error {
	return r.withDir(oldRel, func(olddir int, oldBase string) error {
		return r.withDir(newRel, func(newdir int, newBase string) error {
			return pathErr("rename", r.Join(oldRel)+" to "+r.Join(newRel), unix.Renameat(olddir, oldBase, newdir, newBase))
		})
	})
}

// Link makes newRel a hard link to oldRel, failing with fs.ErrExist if
// newRel exists. A symlink at oldRel is linked itself, never its target.
func (r Root) Link(oldRel, newRel string) error {
	return r.withDir(oldRel, func(olddir int, oldBase string) error {
		return r.withDir(newRel, func(newdir int, newBase string) error {
			return pathErr("link", r.Join(newRel), unix.Linkat(olddir, oldBase, newdir, newBase, 0))
		})
	})
}

// CreateTemp creates a new file in directory dirRel with a random name
// starting with prefix, exclusively, and returns it with its path relative
// to the root.
func (r Root) CreateTemp(dirRel, prefix string, perm fs.FileMode) (*os.File, string, error) {
	for range 100 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		rel := path.Join(dirRel, prefix+hex.EncodeToString(b[:]))
		f, err := r.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, rel, err
	}
	return nil, "", fmt.Errorf("create temp file in %s: too many collisions", r.Join(dirRel))
}

// SyncDir fsyncs directory rel so that entries renamed or linked into it
// survive a crash.
func (r Root) SyncDir(rel string) error {
	f, err := r.OpenFile(rel, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", r.Join(rel), err)
	}
	return nil
}

// pathErr wraps errno as an *fs.PathError, so errors.Is(err, fs.ErrNotExist)
// and friends work, and marks a refused symlink with ErrSymlink.
func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	pe := &fs.PathError{Op: op, Path: name, Err: err}
	if err == unix.ELOOP || err == unix.EXDEV {
		// ELOOP: a symlink met under RESOLVE_NO_SYMLINKS or O_NOFOLLOW;
		// EXDEV: the walk would have left the root.
		return fmt.Errorf("%w: %w", pe, ErrSymlink)
	}
	return pe
}

// IsSymlink reports whether st describes a symbolic link.
func IsSymlink(st unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFLNK }

// IsRegular reports whether st describes a regular file.
func IsRegular(st unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFREG }
