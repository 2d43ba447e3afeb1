package unpack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"golang.org/x/sys/unix"
)

// fileID identifies an inode on the root's filesystem.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{dev: st.Dev, ino: st.Ino} }

// extractor holds the state of one extraction. It never holds a context:
// the one in flight is passed down to what reads the stream.
type extractor struct {
	root       *rootDir
	opts       Options
	unpriv     bool
	euid, egid int
	stats      Stats
	// dirs are directories whose mtime (and, unprivileged, whose mode) is
	// applied after the whole layer, children first, since writing their
	// children changes them.
	dirs     []dirMeta
	dirIndex map[string]int
	// touched holds every inode this layer created or kept, so its own
	// whiteouts and opaque markers only hide what earlier layers left.
	touched map[fileID]struct{}
	parent  parentCache
	buf     []byte
	// content hashes each regular file as it is written, when the caller
	// asked for digests (Options.FileDigest); nil otherwise.
	content hash.Hash
}

func newExtractor(root string, opts Options) (*extractor, error) {
	r, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	var content hash.Hash
	if opts.FileDigest != nil {
		content = sha256.New()
	}
	return &extractor{
		content:  content,
		root:     r,
		opts:     opts,
		unpriv:   defaultUnprivileged(opts),
		euid:     os.Geteuid(),
		egid:     os.Getegid(),
		dirIndex: make(map[string]int),
		touched:  make(map[fileID]struct{}),
		buf:      make([]byte, 128<<10),
	}, nil
}

func (x *extractor) close() {
	x.dropParents()
	x.root.close()
}

func (x *extractor) touchFD(fd int) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		x.touched[idOf(&st)] = struct{}{}
	}
}

func (x *extractor) touchAt(parent int, base string) {
	var st unix.Stat_t
	if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		x.touched[idOf(&st)] = struct{}{}
	}
}

func (x *extractor) isTouched(st *unix.Stat_t) bool {
	_, ok := x.touched[idOf(st)]
	return ok
}

// entry extracts one tar entry; r reads its content.
func (x *extractor) entry(ctx context.Context, hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if _, base := splitName(rel); strings.HasPrefix(base, whiteoutPrefix) {
		if handled, err := x.whiteout(rel, base); handled || err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(rel, hdr)
	case tar.TypeReg, '\x00', tar.TypeCont, tar.TypeGNUSparse:
		return x.file(ctx, rel, hdr, r)
	case tar.TypeSymlink:
		return x.symlink(rel, hdr)
	case tar.TypeLink:
		return x.hardlink(rel, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.special(rel, hdr)
	}
	x.stats.skip("unsupported-type")
	return nil
}

// prepare makes room for a new entry named base in parent: whatever is
// there is removed (recursively for a directory), except that an existing
// directory is kept when the new entry is a directory too. Nothing is ever
// followed: a symlink in the way is removed, not written through.
func (x *extractor) prepare(parent int, base string, isDir bool) (keep bool, err error) {
	var st unix.Stat_t
	err = unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat existing entry: %w", err)
	}
	if isDir && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return true, nil
	}
	if base == "." {
		return false, fmt.Errorf("the root directory cannot be replaced by a non-directory: %w", errdefs.ErrInvalidArgument)
	}
	return false, x.removeAll(parent, base)
}

func (x *extractor) file(ctx context.Context, rel string, hdr *tar.Header, r io.Reader) error {
	parent, base, err := x.openParent(rel)
	if err != nil {
		return err
	}
	mode := x.mode(hdr)
	uid, gid, chown, err := x.owner(hdr)
	if err != nil {
		return err
	}
	// Most files need nothing after their content: no setuid bits (which
	// writing and chown clear), no xattrs (which must follow both), and the
	// owner a new file gets anyway. They are created with their mode, and
	// the stat taken after the content confirms mode and owner (a umask
	// can narrow the one, a setgid parent change the group); any other
	// file is created 0600 and given owner, xattrs and mode after its
	// content, in that order.
	plain := mode&0o7000 == 0 && !hasXattrs(hdr) &&
		(!chown || uid == x.euid && gid == x.egid && !x.parent.last.setgid)
	createMode := uint32(0o600)
	if plain {
		createMode = mode
	}
	// O_EXCL|O_NOFOLLOW: anything already at the name is cleared first and
	// never opened, so a symlink there is replaced, not written through.
	// Most names are new: try to create before looking.
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd := -1
	if base != "." {
		fd, err = unix.Openat(parent, base, flags, createMode)
	}
	if fd < 0 && (base == "." || errors.Is(err, unix.EEXIST)) {
		if _, err := x.prepare(parent, base, false); err != nil {
			return err
		}
		fd, err = unix.Openat(parent, base, flags, createMode)
	}
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	err = x.writeFile(ctx, fd, r, hdr, mode, plain, uid, gid, chown)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("close file: %w", cerr)
	}
	return err
}

// writeFile writes a new file's content and metadata to fd.
func (x *extractor) writeFile(ctx context.Context, fd int, r io.Reader, hdr *tar.Header, mode uint32, plain bool, uid, gid int, chown bool) error {
	if err := x.copyContent(ctx, fd, r); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat file: %w", err)
	}
	x.touched[idOf(&st)] = struct{}{}
	x.reportContent(&st)
	if !plain || st.Mode&0o7777 != mode || chown && (int(st.Uid) != uid || int(st.Gid) != gid) {
		if err := x.setMeta(fd, hdr, mode, uid, gid, chown); err != nil {
			return err
		}
	}
	return x.utimesFD(fd, atimeOf(hdr), tspec(hdr.ModTime))
}

func (x *extractor) copyContent(ctx context.Context, fd int, r io.Reader) error {
	if x.content != nil {
		x.content.Reset()
	}
	for {
		n, rerr := r.Read(x.buf)
		if n > 0 {
			if x.content != nil {
				x.content.Write(x.buf[:n])
			}
			if err := writeAll(fd, x.buf[:n]); err != nil {
				return fmt.Errorf("write file: %w", err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read content: %w", readErr(rerr))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// writeAll writes b to fd whole, as os.File.Write does, without the
// os.File (whose creation costs a system call per file).
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

// reportContent hands the digest of the content just written to the file
// st describes to Options.FileDigest, if set.
func (x *extractor) reportContent(st *unix.Stat_t) {
	if x.content == nil {
		return
	}
	var sum [sha256.Size]byte
	x.content.Sum(sum[:0])
	x.opts.FileDigest(st.Dev, st.Ino, sum)
}

func (x *extractor) dir(rel string, hdr *tar.Header) error {
	parent, base, err := x.openParent(rel)
	if err != nil {
		return err
	}
	keep, err := x.prepare(parent, base, true)
	if err != nil {
		return err
	}
	if !keep {
		if err := unix.Mkdirat(parent, base, 0o700); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
	}
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat directory: %w", err)
	}
	x.touched[idOf(&st)] = struct{}{}
	mode := x.mode(hdr)
	// Unprivileged, a directory without owner rwx would refuse the layer's
	// own children: keep it open until the end of the layer.
	later := x.unpriv && mode&0o700 != 0o700
	now := mode
	if later {
		now |= 0o700
	}
	if err := x.metaFD(fd, hdr, now); err != nil {
		return err
	}
	x.deferDir(dirMeta{rel: rel, id: idOf(&st), mode: mode, chmodLater: later,
		atime: atimeOf(hdr), mtime: tspec(hdr.ModTime)})
	return nil
}

func (x *extractor) symlink(rel string, hdr *tar.Header) error {
	parent, base, err := x.openParent(rel)
	if err != nil {
		return err
	}
	if _, err := x.prepare(parent, base, false); err != nil {
		return err
	}
	// The target is stored verbatim and never looked at: it only matters
	// when something later resolves through it, and every lookup here is
	// confined to the root.
	if err := unix.Symlinkat(hdr.Linkname, parent, base); err != nil {
		return fmt.Errorf("create symlink to %s: %w", short(hdr.Linkname), err)
	}
	x.touchAt(parent, base)
	if err := x.chownAt(parent, base, hdr); err != nil {
		return err
	}
	if len(xattrRecords(hdr)) > 0 {
		x.stats.skip("xattr-symlink")
	}
	return x.setTimes(parent, base, hdr)
}

func (x *extractor) hardlink(rel string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target: %w", err)
	}
	if target == "." {
		return fmt.Errorf("hardlink to the root directory: %w", errdefs.ErrInvalidArgument)
	}
	// Resolve the target first: removing what is at the link's name could
	// remove the target too.
	tdir, tbase := splitName(target)
	tparent, err := x.root.openDir(tdir)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("hardlink target %s is not in the root: %w", short(hdr.Linkname), errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return fmt.Errorf("hardlink target %s: %w", short(hdr.Linkname), resolveErr("open directory", tdir, err))
	}
	defer unix.Close(tparent)
	var tst unix.Stat_t
	if err := unix.Fstatat(tparent, tbase, &tst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("hardlink target %s is not in the root: %w", short(hdr.Linkname), errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("hardlink target %s: %w: %w", short(hdr.Linkname), err, errdefs.ErrInvalidArgument)
	}
	if tst.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hardlink target %s is a directory: %w", short(hdr.Linkname), errdefs.ErrInvalidArgument)
	}

	parent, base, err := x.openParent(rel)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && idOf(&st) == idOf(&tst) {
		return nil // already that inode
	}
	if _, err := x.prepare(parent, base, false); err != nil {
		return err
	}
	// No AT_SYMLINK_FOLLOW: a symlink target is linked itself, not followed.
	if err := unix.Linkat(tparent, tbase, parent, base, 0); err != nil {
		return fmt.Errorf("link to %s: %w", short(hdr.Linkname), err)
	}
	x.touched[idOf(&tst)] = struct{}{}
	return nil
}

// special creates device nodes (privileged only) and fifos.
func (x *extractor) special(rel string, hdr *tar.Header) error {
	var kind uint32
	switch hdr.Typeflag {
	case tar.TypeChar:
		kind = unix.S_IFCHR
	case tar.TypeBlock:
		kind = unix.S_IFBLK
	default:
		kind = unix.S_IFIFO
	}
	if kind != unix.S_IFIFO && x.unpriv {
		x.stats.skip("device")
		return nil
	}
	if hdr.Devmajor < 0 || hdr.Devmajor > 0xfff || hdr.Devminor < 0 || hdr.Devminor > 0xfffff {
		return fmt.Errorf("device number %d:%d out of range: %w", hdr.Devmajor, hdr.Devminor, errdefs.ErrInvalidArgument)
	}
	parent, base, err := x.openParent(rel)
	if err != nil {
		return err
	}
	if _, err := x.prepare(parent, base, false); err != nil {
		return err
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := unix.Mknodat(parent, base, kind|0o600, dev); err != nil {
		return fmt.Errorf("create %s: %w", kindName(kind), err)
	}
	x.touchAt(parent, base)
	if err := x.metaAt(parent, base, hdr, kind); err != nil {
		return err
	}
	return x.setTimes(parent, base, hdr)
}

func kindName(kind uint32) string {
	switch kind {
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "fifo"
}
