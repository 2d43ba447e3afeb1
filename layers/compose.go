package layers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/unpack"
)

// Compose writes the root filesystem of img to dst, which must not exist or
// be an empty directory. Layers unpacked in the layer area are copied from
// there (no decompression); the others are extracted straight from their
// blobs, their diffIDs verified. Both go through the same confined
// extractor, so a hostile layer cannot reach outside dst either way. The
// tree is built in a temporary sibling and renamed into place when whole:
// a half-built root filesystem is never left at dst.
func (s *Store) Compose(ctx context.Context, img *image.Image, dst string) error {
	refs, err := refsOf(img)
	if err != nil {
		return err
	}
	if err := emptyOrAbsent(dst); err != nil {
		return err
	}
	release, err := s.blobs.Lease(ctx) // the layers read must not be collected
	if err != nil {
		return err
	}
	defer release()
	parent := filepath.Dir(filepath.Clean(dst))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".imagec-")
	if err != nil {
		return fmt.Errorf("unpack to %s: %w", dst, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	opts := unpack.Options{NoSync: true}
	for _, r := range refs {
		if s.Has(r.chainID) {
			err = applyDir(ctx, tmp, filepath.Join(s.Path(r.chainID), "diff"), opts)
		} else {
			err = s.applyBlob(ctx, tmp, r, opts)
		}
		if err != nil {
			return fmt.Errorf("unpack %s: layer %s: %w", img.Name, r.desc.Digest, err)
		}
	}
	// One syncfs for the whole tree instead of an fsync per file.
	if err := syncfs(tmp); err != nil {
		return err
	}
	_ = os.Remove(dst) // an empty directory the user made
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("unpack to %s: %w", dst, err)
	}
	done = true
	return nil
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

// applyDir applies an unpacked layer directory onto root, streaming it as a
// tar through the extractor.
func applyDir(ctx context.Context, root, diff string, opts unpack.Options) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(ctx, pw, diff)) }()
	_, err := unpack.Apply(ctx, root, pr, opts)
	pr.CloseWithError(err)
	return err
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
