package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
)

// tarWriter writes an archive's entries. Every entry gets the same owner,
// mode and timestamp, so saving the same images twice gives the same bytes.
type tarWriter struct {
	tw      *tar.Writer
	written map[string]bool
}

// epoch is the modification time of every entry, as docker uses for blobs.
var epoch = time.Unix(0, 0).UTC()

func newTarWriter(w io.Writer) *tarWriter {
	return &tarWriter{tw: tar.NewWriter(w), written: map[string]bool{}}
}

// dirs writes the directory entries leading to name that are not written
// yet. Loaders create parents anyway; the entries keep the archive tidy for
// people who unpack it by hand.
func (t *tarWriter) dirs(name string) error {
	dir := path.Dir(name)
	if dir == "." || t.written[dir+"/"] {
		return nil
	}
	if err := t.dirs(dir); err != nil {
		return err
	}
	t.written[dir+"/"] = true
	return t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch})
}

func (t *tarWriter) header(name string, size int64) error {
	if err := t.dirs(name); err != nil {
		return err
	}
	t.written[name] = true
	return t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: epoch})
}

// file writes a small file held in memory.
func (t *tarWriter) file(name string, data []byte) error {
	if err := t.header(name, int64(len(data))); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := t.tw.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// blob streams blob desc from the store to blobs/<alg>/<hex>, once per
// archive. The bytes are hashed on the way: a blob that rotted on disk fails
// the save (errdefs.ErrDigestMismatch) instead of producing an archive that
// every loader would reject later.
func (t *tarWriter) blob(ctx context.Context, st content.View, desc ocispec.Descriptor) error {
	name := blobPath(string(desc.Digest.Algorithm()), desc.Digest.Encoded())
	if t.written[name] {
		return nil
	}
	f, err := st.Open(ctx, desc.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Size() != desc.Size {
		return fmt.Errorf("blob %s in the store has %d bytes, its descriptor says %d: %w",
			desc.Digest, f.Size(), desc.Size, errdefs.ErrSizeMismatch)
	}
	if err := t.header(name, desc.Size); err != nil {
		return fmt.Errorf("writing blob %s: %w", desc.Digest, err)
	}
	v := desc.Digest.Verifier()
	n, err := io.CopyN(io.MultiWriter(t.tw, v), withContext(ctx, f), desc.Size)
	if err != nil {
		return fmt.Errorf("writing blob %s (%d of %d bytes): %w", desc.Digest, n, desc.Size, err)
	}
	if !v.Verified() {
		return fmt.Errorf("blob %s in the store does not match its digest (run imagec fsck): %w", desc.Digest, errdefs.ErrDigestMismatch)
	}
	return nil
}

func (t *tarWriter) close() error { return t.tw.Close() }

// readerFunc is an io.Reader made of a function.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// withContext returns r made to fail once ctx is done, so that copying a
// large blob stops promptly on Ctrl-C.
func withContext(ctx context.Context, r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return r.Read(p)
	})
}
