package unpack

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"golang.org/x/sys/unix"
)

// rootDir is the directory a layer is extracted into, held open so that
// every lookup is relative to it rather than to a path that could change.
type rootDir struct {
	fd   int // O_PATH descriptor of the root
	path string
}

// resolveFlags make the kernel treat the root descriptor as "/" for the
// whole lookup: ".." stops at it and absolute symlinks restart at it, as a
// chroot would. Magic links (/proc/self/fd/N and friends) could jump
// anywhere, so they are refused outright.
const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// sysOpenat2 is the system call, replaceable by tests that need a kernel
// without it.
var sysOpenat2 = unix.Openat2

func openRoot(dir string) (*rootDir, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("open root: %w: %w", err, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("open root: %w", err)
	}
	r := &rootDir{fd: fd, path: dir}
	// Probe once so that a kernel or sandbox without openat2 gives one clear
	// error up front instead of a confusing one on the first entry. EPERM
	// counts too: older seccomp profiles answer unknown syscalls with it.
	probe, err := r.openat2(".", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("openat2(2) is unavailable (%v): safe extraction needs Linux 5.6 or later without a seccomp filter blocking it: %w", err, errdefs.ErrUnsupported)
		}
		return nil, fmt.Errorf("open root: %w", err)
	}
	unix.Close(probe)
	return r, nil
}

func (r *rootDir) close() { unix.Close(r.fd) }

// sync flushes the root's filesystem (syncfs refuses O_PATH descriptors).
func (r *rootDir) sync() error {
	fd, err := unix.Openat(r.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// openat2 opens rel inside the root. EAGAIN (a concurrent rename seen during
// a RESOLVE_IN_ROOT walk) and EINTR are retried a bounded number of times.
func (r *rootDir) openat2(rel string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveFlags}
	var err error
	for range 32 {
		var fd int
		fd, err = sysOpenat2(r.fd, rel, &how)
		if err == nil {
			return fd, nil
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			break
		}
	}
	return -1, err
}

// openDir opens the directory rel (relative to the root) as an O_PATH
// descriptor, following symlinks confined to the root.
func (r *rootDir) openDir(rel string) (int, error) {
	return r.openat2(rel, unix.O_PATH|unix.O_DIRECTORY)
}

// cleanName turns a tar entry name into a clean path relative to the root
// ("." for the root itself). Leading "/" and "./" are dropped, as GNU tar
// does; a name that climbs out with ".." is refused rather than clamped,
// because no legitimate layer contains one.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name contains a NUL byte: %w", errdefs.ErrInvalidArgument)
	}
	p := path.Clean(name)
	if strings.HasPrefix(p, "/") {
		// path.Clean already turned "/.." into "/": an absolute name is
		// rooted at the root, as it would be in a chroot.
		p = strings.TrimLeft(p, "/")
		if p == "" {
			p = "."
		}
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("name climbs out of the root: %w", errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// splitName splits a clean relative name into its parent directory and last
// component. The root itself is (".", ".").
func splitName(rel string) (dir, base string) {
	if rel == "." {
		return ".", "."
	}
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ".", rel
	}
	return rel[:i], rel[i+1:]
}

// short quotes a name for an error message, cut to a readable length:
// hostile names can be many kilobytes long.
func short(name string) string {
	const max = 128
	if len(name) <= max {
		return strconv.Quote(name)
	}
	return strconv.Quote(name[:max]) + fmt.Sprintf("...(%d bytes)", len(name))
}

// resolveErr classifies a lookup failure inside the root. The errno stays
// in the chain so callers can still test for it.
func resolveErr(what, rel string, err error) error {
	switch {
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s %s: a path component is not a directory: %w: %w", what, short(rel), err, errdefs.ErrInvalidArgument)
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s %s: too many levels of symbolic links (or a magic link): %w: %w", what, short(rel), err, errdefs.ErrInvalidArgument)
	case errors.Is(err, unix.ENAMETOOLONG):
		return fmt.Errorf("%s %s: name too long: %w: %w", what, short(rel), err, errdefs.ErrInvalidArgument)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("%s %s: lookup would leave the root: %w: %w", what, short(rel), err, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s %s: %w", what, short(rel), err)
}

// mkdirAll opens the directory dir inside the root, creating missing
// directories (mode 0755, like tar and docker do) on the way. Symlinks among
// the existing components are followed, confined to the root; directories
// created here are opened without following anything.
func (x *extractor) mkdirAll(dir string) (int, error) {
	fd, err := x.root.openDir(dir)
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return -1, resolveErr("open directory", dir, err)
	}
	comps := strings.Split(dir, "/")
	// Find the deepest existing ancestor by resolving each prefix from the
	// root, so that symlinked ancestors resolve exactly as above.
	cur, err := unix.Dup(x.root.fd)
	if err != nil {
		return -1, err
	}
	i := 0
	for ; i < len(comps); i++ {
		next, err := x.root.openDir(strings.Join(comps[:i+1], "/"))
		if errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			unix.Close(cur)
			return -1, resolveErr("open directory", dir, err)
		}
		unix.Close(cur)
		cur = next
	}
	// Everything from comps[i] on is missing: create each component in the
	// one before it and open it with O_NOFOLLOW, so nothing can be swapped in.
	for ; i < len(comps); i++ {
		name := comps[i]
		if err := unix.Mkdirat(cur, name, 0o755); err != nil {
			unix.Close(cur)
			if errors.Is(err, unix.EEXIST) {
				// It exists but did not resolve: a dangling symlink.
				return -1, fmt.Errorf("create directory %s: %s is a dangling symlink: %w: %w", short(dir), short(strings.Join(comps[:i+1], "/")), err, errdefs.ErrInvalidArgument)
			}
			return -1, resolveErr("create directory", dir, err)
		}
		next, err := unix.Openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(cur)
		if err != nil {
			return -1, resolveErr("open directory", dir, err)
		}
		cur = next
		// 0755 whatever the process umask is, as tar leaves implied parents.
		if err := unix.Fchmod(cur, 0o755); err != nil {
			unix.Close(cur)
			return -1, fmt.Errorf("chmod directory %s: %w", short(dir), err)
		}
		x.touchFD(cur)
	}
	return cur, nil
}
