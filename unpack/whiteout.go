package unpack

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	// whiteoutMeta prefixes AUFS bookkeeping entries (.wh..wh.plnk and the
	// like); only the opaque marker among them means anything in OCI.
	whiteoutMeta = ".wh..wh."
	opaqueMarker = ".wh..wh..opq"
	// overlayOpaque is the xattr overlayfs reads to hide a lower directory.
	overlayOpaque = "trusted.overlay.opaque"
)

// whiteout handles an entry whose last component, base, starts with ".wh.".
// handled=false means the entry is to be extracted as an ordinary one (the
// unprivileged Overlay mode keeps the OCI markers as files).
func (x *extractor) whiteout(rel, base string) (handled bool, err error) {
	dir, _ := splitName(rel)
	keepMarkers := x.opts.Whiteouts == WhiteoutOverlay && x.unpriv
	if base == opaqueMarker {
		switch {
		case keepMarkers:
			return false, nil
		case x.opts.Whiteouts == WhiteoutOverlay:
			return true, x.overlayOpaque(dir)
		}
		return true, x.applyOpaque(dir)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		x.stats.skip("aufs-metadata")
		return true, nil
	}
	name := base[len(whiteoutPrefix):]
	if name == "" || name == "." || name == ".." {
		return true, fmt.Errorf("whiteout of %q is not a name in its directory: %w", name, errdefs.ErrInvalidArgument)
	}
	switch {
	case keepMarkers:
		return false, nil
	case x.opts.Whiteouts == WhiteoutOverlay:
		return true, x.overlayWhiteout(dir, name)
	}
	return true, x.applyWhiteout(dir, name)
}

// applyWhiteout deletes name from dir, unless this layer put it there: a
// whiteout only hides what earlier layers left (image-spec, "Whiteouts").
// The directory is resolved inside the root like any other path, and name
// is unlinked relative to it, so neither can reach outside.
func (x *extractor) applyWhiteout(dir, name string) error {
	parent, err := x.root.openDir(dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing there to hide
	}
	if err != nil {
		return resolveErr("whiteout in directory", dir, err)
	}
	defer unix.Close(parent)
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("whiteout %q: %w", name, err)
	}
	if x.isTouched(&st) {
		return nil
	}
	return x.removeAll(parent, name)
}

// applyOpaque removes what earlier layers left in dir, keeping what this
// layer has already written there (entries may precede their marker).
func (x *extractor) applyOpaque(dir string) error {
	fd, err := x.openDirRW(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	keep := func(st *unix.Stat_t) bool { return x.isTouched(st) }
	if err := x.emptyDir(fd, keep); err != nil {
		return fmt.Errorf("opaque directory %s: %w", short(dir), err)
	}
	return nil
}

// overlayWhiteout records a whiteout as overlayfs does: a 0:0 character
// device under the hidden name.
func (x *extractor) overlayWhiteout(dir, name string) error {
	parent, err := x.mkdirAll(dir)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	if _, err := x.prepare(parent, name, false); err != nil {
		return err
	}
	if err := unix.Mknodat(parent, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("create overlay whiteout %q: %w", name, err)
	}
	x.touchAt(parent, name)
	return nil
}

// overlayOpaque marks dir opaque for overlayfs.
func (x *extractor) overlayOpaque(dir string) error {
	fd, err := x.openDirRW(dir)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, overlayOpaque, []byte("y"), 0); err != nil {
		return fmt.Errorf("mark %s opaque: %w", short(dir), err)
	}
	return nil
}

// openDirRW opens dir inside the root (creating it if needed) for reading
// its entries and setting its xattrs.
func (x *extractor) openDirRW(dir string) (int, error) {
	p, err := x.mkdirAll(dir)
	if err != nil {
		return -1, err
	}
	defer unix.Close(p)
	fd, err := unix.Openat(p, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open directory %s: %w", short(dir), err)
	}
	return fd, nil
}
