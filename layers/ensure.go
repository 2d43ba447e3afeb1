package layers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/unpack"
)

// Ensure unpacks every layer of img that is not unpacked yet, up to
// parallel at once (layers in overlayfs form do not depend on each other),
// verifying each against its diffID and recording what it wrote. A foreign
// layer that is not in the store cannot be unpacked and fails. A layer
// already unpacked is not verified here (fsck and unpack do that).
func (s *Store) Ensure(ctx context.Context, img *image.Image, parallel int) error {
	refs, err := refsOf(img)
	if err != nil {
		return err
	}
	release, err := s.blobs.Lease(ctx) // keep garbage collection off our work
	if err != nil {
		return err
	}
	defer release()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	for _, r := range refs {
		if s.Has(r.chainID) {
			continue
		}
		g.Go(func() error { return s.unpackLayer(gctx, r) })
	}
	return g.Wait()
}

// unpackLayer extracts one layer into a temporary directory of the layer
// area, records what it wrote, and renames the directory into place once
// complete and synced: a layer directory that exists is whole, and has its
// record from the start.
func (s *Store) unpackLayer(ctx context.Context, r layerRef) error {
	f, err := s.blobs.Open(ctx, r.desc.Digest)
	if err != nil {
		return fmt.Errorf("layer %s: %w", r.desc.Digest, err)
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(s.dir, "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return err
	}
	// The extractor hashes each file as it writes it, from the stream it
	// verifies against the diffID: the record needs no second read.
	sums := map[fileKey][sha256.Size]byte{}
	opts := unpack.Options{Whiteouts: unpack.WhiteoutOverlay, NoSync: true,
		FileDigest: func(dev, ino uint64, sum [sha256.Size]byte) { sums[fileKey{dev, ino}] = sum }}
	if _, err := unpack.Layer(ctx, diff, f, r.desc.MediaType, r.diffID, opts); err != nil {
		return fmt.Errorf("unpacking layer %s: %w", r.desc.Digest, err)
	}
	if err := writeRecord(ctx, tmp, r, sums); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "parent"), []byte(r.parent.String()), 0o644); err != nil {
		return err
	}
	// One syncfs for the tree, its record and parent: all of it is on disk
	// before the directory gets its name.
	if err := syncfs(tmp); err != nil {
		return fmt.Errorf("layer %s: %w", r.chainID, err)
	}
	if err := s.install(tmp, r); err != nil {
		return err
	}
	return syncDir(s.dir)
}

func writeRecord(ctx context.Context, tmp string, r layerRef, sums map[fileKey][sha256.Size]byte) error {
	rw, err := createRecord(filepath.Join(tmp, recordName), r.chainID, r.diffID)
	if err != nil {
		return err
	}
	if err := recordTree(ctx, filepath.Join(tmp, "diff"), sums, rw); err != nil {
		rw.f.Close()
		return fmt.Errorf("layer %s: record: %w", r.chainID, err)
	}
	if err := rw.commit(); err != nil {
		return fmt.Errorf("layer %s: record: %w", r.chainID, err)
	}
	return nil
}

// install renames the finished directory tmp to the layer's name. A layer
// directory already there without a record (an older imagec's, or
// damaged) is replaced; one with a record is another unpack's that
// finished first.
func (s *Store) install(tmp string, r layerRef) error {
	dst := s.Path(r.chainID)
	err := os.Rename(tmp, dst)
	if err == nil || s.Has(r.chainID) {
		return nil
	}
	if _, serr := os.Lstat(dst); serr != nil {
		return fmt.Errorf("layer %s: %w", r.chainID, err)
	}
	if err := s.remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("layer %s: replacing a layer directory without a record: %w", r.chainID, err)
	}
	if err := os.Rename(tmp, dst); err != nil && !s.Has(r.chainID) {
		return fmt.Errorf("layer %s: %w", r.chainID, err)
	}
	return nil
}

// remove takes the layer directory dir out of the layer area at once (a
// rename to a temporary name, which Sweep also removes if this process
// dies) and then deletes it.
func (s *Store) remove(dir string) error {
	aside, err := os.MkdirTemp(s.dir, "tmp-gone-")
	if err != nil {
		return err
	}
	// Renaming a directory onto an empty one replaces it (rename(2);
	// os.Rename refuses any existing directory).
	if err := unix.Rename(dir, aside); err != nil {
		os.Remove(aside)
		return err
	}
	return os.RemoveAll(aside)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
