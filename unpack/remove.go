package unpack

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// removeAll removes name from the directory parent, recursively if it is a
// directory. Each level is opened relative to the one above with O_NOFOLLOW,
// so a symlink met on the way is unlinked, never descended into.
func (x *extractor) removeAll(parent int, name string) error {
	x.parent.stale = true // what a cached path resolves to may change
	err := unix.Unlinkat(parent, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("remove %q: %w", name, err)
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q for removal: %w", name, err)
	}
	err = x.emptyDir(fd, nil)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("remove %q: %w", name, err)
	}
	if err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove directory %q: %w", name, err)
	}
	return nil
}

// emptyDir removes the children of the open directory fd. With keep set,
// a child for which keep returns true is not removed; if it is a
// directory, emptyDir descends into it with the same rule instead.
func (x *extractor) emptyDir(fd int, keep func(*unix.Stat_t) bool) error {
	// A directory without owner write/search permission cannot be emptied
	// by an unprivileged owner; it is going away (or being cleared), so
	// open it up first. Failure shows up below as the real error.
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&0o700 != 0o700 && keep == nil {
		_ = unix.Fchmod(fd, st.Mode&0o7777|0o700)
	}
	names, err := readNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		if keep != nil {
			var cst unix.Stat_t
			if err := unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return fmt.Errorf("stat %q: %w", n, err)
			}
			if keep(&cst) {
				if cst.Mode&unix.S_IFMT == unix.S_IFDIR {
					if err := x.emptyChild(fd, n, keep); err != nil {
						return err
					}
				}
				continue
			}
		}
		if err := x.removeAll(fd, n); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) emptyChild(parent int, name string, keep func(*unix.Stat_t) bool) error {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", name, err)
	}
	defer unix.Close(fd)
	if err := x.emptyDir(fd, keep); err != nil {
		return fmt.Errorf("in %q: %w", name, err)
	}
	return nil
}

// readNames lists the directory fd (without "." and ".."). It reads the
// whole listing before the caller changes the directory.
func readNames(fd int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, fmt.Errorf("rewind directory: %w", err)
	}
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read directory: %w", err)
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}
