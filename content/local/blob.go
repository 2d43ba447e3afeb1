package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/safefs"
)

// Info returns the size of committed blob d, or an error wrapping
// errdefs.ErrNotFound. Only a regular file counts as a blob: a symbolic
// link, a directory or a device at the blob's path is reported as not
// found, so nothing ever takes it for the content it is named after.
func (s *Store) Info(ctx context.Context, d digest.Digest) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	rel, err := blobRelChecked(d)
	if err != nil {
		return 0, err
	}
	st, err := s.fs.Lstat(rel)
	if err != nil {
		return 0, blobErr("stat", d, err)
	}
	if !safefs.IsRegular(st) {
		return 0, fmt.Errorf("stat blob %s: not a regular file: %w", d, errdefs.ErrNotFound)
	}
	return st.Size, nil
}

// Has reports whether the blob desc describes is present: a regular file
// of desc.Size bytes. A truncated or overlong file is not the blob, and a
// writer for desc replaces it. Content is not hashed here (fsck does);
// every commit verified it.
func (s *Store) Has(ctx context.Context, desc ocispec.Descriptor) bool {
	size, err := s.Info(ctx, desc.Digest)
	return err == nil && size == desc.Size
}

// Open opens committed blob d for reading, or returns an error wrapping
// errdefs.ErrNotFound (also when the path holds anything but a regular
// file). The content is not verified; use ReadBlob or hash while reading
// when the file may have been tampered with.
func (s *Store) Open(ctx context.Context, d digest.Digest) (content.Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rel, err := blobRelChecked(d)
	if err != nil {
		return nil, err
	}
	f, fi, err := s.fs.OpenRegular(rel)
	if err != nil {
		return nil, blobErr("open", d, err)
	}
	return &blobReader{File: f, size: fi.Size()}, nil
}

// blobReader is an open blob file. Stat stays reachable (through the
// embedded file) for callers that need the file's identity, such as fsck.
type blobReader struct {
	*os.File
	size int64
}

func (b *blobReader) Size() int64 { return b.size }

// ReadBlob reads the whole of blob d, which must be at most max bytes
// (errdefs.ErrTooLarge otherwise), and verifies it hashes to d
// (errdefs.ErrDigestMismatch otherwise), so a corrupted file is never
// mistaken for the content it is named after.
func (s *Store) ReadBlob(ctx context.Context, d digest.Digest, max int64) ([]byte, error) {
	if max < 0 {
		return nil, fmt.Errorf("read blob %s: negative limit %d: %w", d, max, errdefs.ErrInvalidArgument)
	}
	f, err := s.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Size() > max {
		return nil, fmt.Errorf("read blob %s: size %d exceeds limit %d: %w", d, f.Size(), max, errdefs.ErrTooLarge)
	}
	// The size check above is advisory (the file could grow); the limited
	// read is what actually bounds memory.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, blobErr("read", d, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read blob %s: exceeds limit %d: %w", d, max, errdefs.ErrTooLarge)
	}
	if got := d.Algorithm().FromBytes(b); got != d {
		return nil, fmt.Errorf("read blob %s: content hashes to %s: %w", d, got, errdefs.ErrDigestMismatch)
	}
	return b, nil
}

// WriteBlob stores data as the blob desc describes after checking its size
// and digest. A blob that is already present is success. It goes through the
// ingest lock, so it is safe against a concurrent Writer of the same blob.
func (s *Store) WriteBlob(ctx context.Context, desc ocispec.Descriptor, data []byte) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("write blob %q: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if int64(len(data)) != desc.Size {
		return fmt.Errorf("write blob %s: have %d bytes, descriptor says %d: %w",
			desc.Digest, len(data), desc.Size, errdefs.ErrSizeMismatch)
	}
	if got := desc.Digest.Algorithm().FromBytes(data); got != desc.Digest {
		return fmt.Errorf("write blob %s: content hashes to %s: %w", desc.Digest, got, errdefs.ErrDigestMismatch)
	}
	w, err := s.Writer(ctx, desc)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	// A partial ingest left by an interrupted download may hold anything;
	// the complete content is in hand, so start over rather than trust it.
	if w.Offset() != 0 {
		if err := w.Reset(); err != nil {
			return err
		}
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		return err
	}
	return w.Commit(ctx)
}

// Delete removes committed blob d, or returns an error wrapping
// errdefs.ErrNotFound. It does not check whether an image still uses it. A
// symbolic link at the blob's path is removed itself, never its target.
func (s *Store) Delete(ctx context.Context, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel, err := blobRelChecked(d)
	if err != nil {
		return err
	}
	if err := s.fs.Remove(rel); err != nil {
		return blobErr("delete", d, err)
	}
	return nil
}

// Walk calls fn with the digest and size of every committed blob, stopping
// at the first error fn returns (which Walk returns unchanged). Files under
// blobs/ whose names are not valid digests (temp files of other tools), and
// anything that is not a regular file, are skipped.
func (s *Store) Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error {
	algs, err := s.readDir(blobsDir)
	if err != nil {
		return fmt.Errorf("walk blobs in %s: %w", s.root, err)
	}
	for _, a := range algs {
		alg := digest.Algorithm(a.Name())
		if !a.IsDir() || !alg.Available() {
			continue
		}
		entries, err := s.readDir(blobsDir + "/" + a.Name())
		if err != nil {
			return fmt.Errorf("walk blobs in %s: %w", s.root, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if d.Validate() != nil || !e.Type().IsRegular() {
				continue
			}
			size, err := s.Info(ctx, d)
			if errors.Is(err, errdefs.ErrNotFound) {
				continue // deleted (or replaced) while walking
			}
			if err != nil {
				return fmt.Errorf("walk blobs: stat %s: %w", d, err)
			}
			if err := fn(d, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// readDir lists directory rel of the store, reached without symlinks.
func (s *Store) readDir(rel string) ([]fs.DirEntry, error) {
	f, err := s.fs.OpenFile(rel, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// blobErr describes a failed file operation on blob d, mapping a missing
// file, and anything at its path that is not a regular file reached
// without symlinks, to errdefs.ErrNotFound.
func blobErr(op string, d digest.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s blob %s: %w", op, d, errdefs.ErrNotFound)
	}
	if errors.Is(err, safefs.ErrSymlink) || errors.Is(err, safefs.ErrNotRegular) {
		return fmt.Errorf("%s blob %s: %v: %w", op, d, err, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s blob %s: %w", op, d, err)
}
