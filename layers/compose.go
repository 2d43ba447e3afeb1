package layers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/flock"
	"github.com/imagec/imagec/unpack"
)

// Compose writes the root filesystem of img to dst, which must not exist or
// be an empty directory. Layers unpacked in the layer area are copied from
// there (no decompression), each file checked against the layer's record as
// it is copied; the others are extracted straight from their blobs, their
// diffIDs verified. If a cached layer differs from its record, what was
// built is discarded and the image is composed from its blobs instead (see
// Rootfs.Distrusted). Both go through the same confined extractor, so a
// hostile layer cannot reach outside dst either way. The tree is built in a
// temporary sibling and renamed into place when whole: a half-built root
// filesystem is never left at dst.
func (s *Store) Compose(ctx context.Context, img *image.Image, dst string) error {
	b, err := s.NewRootfs(ctx, dst)
	if err != nil {
		return err
	}
	defer b.Abort()
	if err := b.Finish(ctx, img); err != nil {
		return err
	}
	return nil
}

// Rootfs is a root filesystem being built, layer by layer, beside its
// destination. It lets a caller apply layers as they arrive (during a
// pull) and finish with the rest.
type Rootfs struct {
	s       *Store
	dst     string
	tmp     string
	applied []layerRef
	chain   digest.Digest // chain ID of the last layer applied
	lock    *os.File      // flock on tmp while it is being built
	release func()
	done    bool
	// fromBlobs is set once a cached layer failed its record: the rest of
	// the image comes from blobs too.
	fromBlobs  bool
	distrusted []error
}

// NewRootfs starts building a root filesystem for dst, which must not exist
// or be an empty directory.
func (s *Store) NewRootfs(ctx context.Context, dst string) (*Rootfs, error) {
	if err := emptyOrAbsent(dst); err != nil {
		return nil, err
	}
	release, err := s.blobs.Lease(ctx) // the layers read must not be collected
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(dst))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".imagec-")
	if err != nil {
		release()
		return nil, fmt.Errorf("unpack to %s: %w", dst, err)
	}
	// The lock marks the tree as being built: a later unpack to the same
	// destination removes siblings whose lock is free (left by a process
	// that was killed) and leaves a running one's alone.
	lock, err := lockDir(tmp)
	if err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		release()
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("unpack to %s: %w", dst, err)
	}
	removeStale(parent, "."+filepath.Base(dst)+".imagec-", tmp)
	return &Rootfs{s: s, dst: dst, tmp: tmp, lock: lock, release: func() { lock.Close(); release() }}, nil
}

// lockDir takes an exclusive flock on a directory, held until the returned
// file is closed (or its process dies).
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := flock.TryLock(f, flock.Exclusive); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeStale removes the half-built trees of earlier unpacks to the same
// destination whose builders are gone.
func removeStale(parent, prefix, keep string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(parent, e.Name())
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) || p == keep {
			continue
		}
		if f, err := lockDir(p); err == nil {
			os.RemoveAll(p)
			f.Close()
		}
	}
}

// Apply applies layer i (which must be the next one) from the layer area
// if it is unpacked there, else from its blob, verifying diffID.
func (b *Rootfs) Apply(ctx context.Context, i int, layer ocispec.Descriptor, diffID digest.Digest) error {
	if i != len(b.applied) {
		return fmt.Errorf("unpack to %s: layer %d applied out of order (next is %d): %w", b.dst, i, len(b.applied), errdefs.ErrInvalidArgument)
	}
	chainID := image.ChainID(b.chain, diffID)
	r := layerRef{desc: layer, diffID: diffID, chainID: chainID}
	if err := b.apply(ctx, r); err != nil {
		return fmt.Errorf("unpack to %s: layer %s: %w", b.dst, layer.Digest, err)
	}
	b.applied = append(b.applied, r)
	b.chain = chainID
	return nil
}

// apply applies one layer. The rule for the layer area: a cached layer is
// used only while it matches its record, checked file by file as it is
// copied (the copy reads every file anyway, so the check costs a hash).
// Its first difference (or a file that cannot be read) makes the whole
// tree suspect, since part of the layer is already in it: the tree is
// emptied and the layers so far are applied again from their blobs, and so
// is the rest of the image.
func (b *Rootfs) apply(ctx context.Context, r layerRef) error {
	opts := unpack.Options{NoSync: true}
	if b.fromBlobs || !b.s.Has(r.chainID) {
		return b.s.applyBlob(ctx, b.tmp, r, opts)
	}
	err := b.s.applyCached(ctx, b.tmp, r, opts)
	if err == nil || ctx.Err() != nil {
		return err
	}
	b.distrusted = append(b.distrusted, err)
	b.fromBlobs = true
	if err := emptyDir(b.tmp); err != nil {
		return fmt.Errorf("discarding what layer %s left: %w", r.chainID, err)
	}
	for _, prev := range b.applied {
		if err := b.s.applyBlob(ctx, b.tmp, prev, opts); err != nil {
			return fmt.Errorf("layer %s: %w", prev.desc.Digest, err)
		}
	}
	return b.s.applyBlob(ctx, b.tmp, r, opts)
}

// Distrusted returns why each cached layer that was not used could not be
// trusted (it differed from its record, or could not be read), one error
// per layer naming its chain ID. Their content came from the blobs.
func (b *Rootfs) Distrusted() []error { return b.distrusted }

// Finish applies the layers of img not applied yet, syncs the tree once
// and renames it to its destination.
func (b *Rootfs) Finish(ctx context.Context, img *image.Image) error {
	refs, err := refsOf(img)
	if err != nil {
		return err
	}
	if len(b.applied) > len(refs) {
		return fmt.Errorf("unpack %s: %d layers applied but the image has %d: %w", img.Name, len(b.applied), len(refs), errdefs.ErrInvalidArgument)
	}
	for _, r := range refs[len(b.applied):] {
		if err := b.Apply(ctx, len(b.applied), r.desc, r.diffID); err != nil {
			return err
		}
	}
	// One syncfs for the whole tree instead of an fsync per file.
	if err := syncfs(b.tmp); err != nil {
		return err
	}
	_ = os.Remove(b.dst) // an empty directory the user made
	if err := os.Rename(b.tmp, b.dst); err != nil {
		return fmt.Errorf("unpack to %s: %w", b.dst, err)
	}
	b.done = true
	b.release()
	return nil
}

// Abort removes a tree that was not finished; after Finish it does nothing.
func (b *Rootfs) Abort() {
	if b.done {
		return
	}
	b.done = true
	os.RemoveAll(b.tmp)
	b.release()
}

func (s *Store) applyBlob(ctx context.Context, root string, r layerRef, opts unpack.Options) error {
	f, err := s.blobs.Open(ctx, r.desc.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = unpack.Layer(ctx, root, f, r.desc.MediaType, r.diffID, opts)
	return err
}

// emptyDir removes everything in dir, never following a symlink.
// Unprivileged, a layer may have left directories without write
// permission: they are opened up and the removal tried again.
func emptyDir(dir string) error {
	err := removeChildren(dir)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return removeChildren(dir)
}

func removeChildren(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func emptyOrAbsent(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("unpack to %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("unpack to %s: directory is not empty: %w", dir, errdefs.ErrAlreadyExists)
	}
	return nil
}

func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
