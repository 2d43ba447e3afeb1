// Package unpack extracts image layers (tar streams) into a root filesystem
// directory on Linux, as if the extraction ran chrooted into that directory.
//
// Every path is resolved with openat2(2) and RESOLVE_IN_ROOT relative to a
// file descriptor of the root, so ".." cannot climb above the root and
// absolute symlink targets resolve inside it. The last component of every
// name is then handled relative to its parent's descriptor with the *at
// system calls, never following a symlink there: a symlink an earlier entry
// (or an earlier layer) planted is replaced, never written through. Kernels
// without openat2 (before Linux 5.6, or a seccomp profile that blocks it)
// are refused rather than served by a weaker fallback.
//
// The root must not be modified by anyone else while a layer is extracted:
// the guarantees above are against hostile layer content, not against a
// concurrent process racing the extractor inside the root.
package unpack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/imagec/imagec/compress"
)

// WhiteoutMode selects how OCI whiteouts (".wh.NAME" entries and
// ".wh..wh..opq" opaque markers) are handled.
type WhiteoutMode int

const (
	// WhiteoutApply deletes what a whiteout names from the root, and the
	// earlier contents of a directory marked opaque: the mode for
	// flattening layers one after the other into a single root.
	WhiteoutApply WhiteoutMode = iota
	// WhiteoutOverlay records whiteouts the way overlayfs expects in a layer
	// directory: a character device 0:0 named NAME, and the xattr
	// trusted.overlay.opaque="y" on an opaque directory. Unprivileged, the
	// OCI marker files are kept as they are in the tar instead.
	WhiteoutOverlay
)

// DefaultMaxSize is the default bound on the uncompressed size of one layer.
const DefaultMaxSize int64 = 64 << 30

// Options tune one extraction. The zero value is the default.
type Options struct {
	// Whiteouts selects how whiteouts are handled. Default: WhiteoutApply.
	Whiteouts WhiteoutMode
	// Unprivileged skips what needs privileges (chown to other ids, device
	// nodes, setuid/setgid/sticky bits, trusted.* and security.capability
	// xattrs) and counts it in Stats.Skipped instead of failing.
	// Default (nil): unprivileged unless the effective uid is 0.
	Unprivileged *bool
	// MaxSize bounds the uncompressed size of the layer in bytes; exceeding
	// it fails with errdefs.ErrTooLarge. Default (<= 0): DefaultMaxSize.
	MaxSize int64
	// NoSync skips the syncfs(2) of the root's filesystem after the layer.
	// Default false: the layer is synced before Apply or Layer returns.
	NoSync bool
	// FileDigest, if set, is called once for each regular file written,
	// after its content, with the file's device and inode numbers and the
	// sha256 of the content written. It lets a caller describe what a
	// verified layer put on disk without reading it back (the layer store
	// records it). Hardlinks are not reported: they write no content.
	// Default: nil.
	FileDigest func(dev, ino uint64, sum [sha256.Size]byte)
}

// Stats describes one extraction.
type Stats struct {
	// Entries is the number of tar entries processed (skipped ones included).
	Entries int
	// Bytes is the number of uncompressed tar bytes read.
	Bytes int64
	// Skipped counts what was deliberately not applied, by reason. Nil when
	// nothing was. Reasons: "chown", "device", "special-mode-bits" and
	// "xattr-privileged" (unprivileged only); "xattr-overlay" (overlayfs
	// xattrs are never taken from a layer); "xattr-other" (security.selinux
	// and other non-user, non-ACL namespaces); "xattr-symlink";
	// "xattr-unsupported", "xattr-denied", "xattr-device" (the filesystem or
	// kernel refused); "times" (unrepresentable timestamps);
	// "unsupported-type" (tar entry types other than files, directories,
	// links, devices and fifos); "aufs-metadata" (.wh..wh.* other than the
	// opaque marker).
	Skipped map[string]int
}

func (s *Stats) skip(reason string) {
	if s.Skipped == nil {
		s.Skipped = make(map[string]int)
	}
	s.Skipped[reason]++
}

// Apply extracts one uncompressed tar stream onto the directory root, which
// must exist. On error the root may hold part of the layer; callers that need
// all or nothing extract into a fresh directory and remove it on error.
func Apply(ctx context.Context, root string, tarStream io.Reader, opts Options) (Stats, error) {
	st, err := extract(ctx, root, tarStream, opts, nil)
	if err != nil {
		return st, fmt.Errorf("unpack into %s: %w", root, err)
	}
	return st, nil
}

// extract runs one extraction. With verify set, the stream is read to EOF
// after the tar's end marker (a caller hashing it must see all of it) and
// verify decides, before the sync, whether the layer is the one expected.
func extract(ctx context.Context, root string, r io.Reader, opts Options, verify func() error) (Stats, error) {
	x, err := newExtractor(root, opts)
	if err != nil {
		return Stats{}, err
	}
	defer x.close()

	maxSize := opts.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	lr := compress.Limit(r, maxSize)
	err = x.run(ctx, tar.NewReader(lr))
	if err == nil && verify != nil {
		err = drain(ctx, lr, x.buf)
		if err == nil {
			err = verify()
		}
	}
	x.stats.Bytes = lr.N()
	if err != nil {
		return x.stats, err
	}
	if !opts.NoSync {
		if err := x.root.sync(); err != nil {
			return x.stats, fmt.Errorf("syncfs: %w", err)
		}
	}
	return x.stats, nil
}

// drain reads r to EOF: tar writers pad archives past the end marker.
func drain(ctx context.Context, r io.Reader, buf []byte) error {
	for {
		_, err := r.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read past the end of the tar: %w", readErr(err))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// run extracts every entry, then applies the deferred directory metadata.
func (x *extractor) run(ctx context.Context, tr *tar.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", readErr(err))
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // PAX defaults for later entries; archive/tar applies none
		}
		x.stats.Entries++
		if err := x.entry(ctx, hdr, tr); err != nil {
			return fmt.Errorf("entry %s: %w", short(hdr.Name), err)
		}
	}
	return x.finishDirs()
}

func defaultUnprivileged(opts Options) bool {
	if opts.Unprivileged != nil {
		return *opts.Unprivileged
	}
	return os.Geteuid() != 0
}
