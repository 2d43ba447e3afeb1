package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// paxXattr prefixes the PAX records that carry extended attributes (the
// SCHILY convention GNU tar, bsdtar and docker use).
const paxXattr = "SCHILY.xattr."

type xattr struct {
	name  string
	value []byte
}

// xattrRecords returns the entry's xattr records, unfiltered.
func xattrRecords(hdr *tar.Header) []xattr {
	var out []xattr
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattr); ok && name != "" {
			out = append(out, xattr{name: name, value: []byte(v)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// hasXattrs reports whether the entry carries any xattr record.
func hasXattrs(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattr) {
			return true
		}
	}
	return false
}

// xattrs returns the entry's xattrs that may be applied, counting the rest.
func (x *extractor) xattrs(hdr *tar.Header) []xattr {
	all := xattrRecords(hdr)
	out := all[:0]
	for _, xa := range all {
		if reason := x.refuseXattr(xa.name); reason != "" {
			x.stats.skip(reason)
			continue
		}
		out = append(out, xa)
	}
	return out
}

// refuseXattr returns why an xattr from a layer is not applied, or "".
func (x *extractor) refuseXattr(name string) string {
	switch {
	case strings.HasPrefix(name, "trusted.overlay."), strings.HasPrefix(name, "user.overlay."):
		// overlayfs reads these to redirect lookups and mark whiteouts and
		// metacopies; only the extractor itself may set them (opaque).
		return "xattr-overlay"
	case strings.HasPrefix(name, "user."):
		return ""
	case strings.HasPrefix(name, "trusted."), name == "security.capability":
		if x.unpriv {
			return "xattr-privileged"
		}
		return ""
	case name == "system.posix_acl_access", name == "system.posix_acl_default":
		return ""
	}
	// security.selinux and other LSM labels belong to the host's policy.
	return "xattr-other"
}

// xattrErr turns a failure to set an xattr into a counted skip when the
// filesystem or the caller's privileges do not allow it, and an error
// otherwise.
func (x *extractor) xattrErr(name string, err error, special bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP):
		x.stats.skip("xattr-unsupported")
		return nil
	case errors.Is(err, unix.EPERM) && (x.unpriv || special):
		// The kernel refuses user.* on device nodes and fifos with EPERM.
		x.stats.skip("xattr-denied")
		return nil
	case errors.Is(err, unix.EACCES) && x.unpriv:
		x.stats.skip("xattr-denied")
		return nil
	case errors.Is(err, errNoSetxattrat):
		x.stats.skip("xattr-device")
		return nil
	}
	return fmt.Errorf("set xattr %q: %w", name, err)
}

var errNoSetxattrat = errors.New("setxattrat(2) unavailable")

// setxattrSpecial sets an xattr on a device node or fifo named base in
// parent. fsetxattr refuses O_PATH descriptors and opening a device can have
// side effects, so this uses setxattrat(2) (Linux 6.13) with
// AT_SYMLINK_NOFOLLOW. Without it, a fifo is opened non-blocking (harmless)
// and a device node's xattrs are skipped.
func setxattrSpecial(parent int, base string, kind uint32, xa xattr) error {
	err := setxattrat(parent, base, xa.name, xa.value)
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	if kind != unix.S_IFIFO {
		return errNoSetxattrat
	}
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsetxattr(fd, xa.name, xa.value, 0)
}

// xattrArgs is the kernel's struct xattr_args.
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

func setxattrat(dirfd int, path, name string, value []byte) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	n, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	args := xattrArgs{size: uint32(len(value))}
	if len(value) > 0 {
		args.value = uint64(uintptr(unsafe.Pointer(&value[0])))
	}
	_, _, errno := unix.Syscall6(unix.SYS_SETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unix.AT_SYMLINK_NOFOLLOW), uintptr(unsafe.Pointer(n)),
		uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
	runtime.KeepAlive(value)
	runtime.KeepAlive(p)
	runtime.KeepAlive(n)
	if errno != 0 {
		return errno
	}
	return nil
}
