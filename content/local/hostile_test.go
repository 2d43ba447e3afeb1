package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
)

// The store is a directory other programs can write to. These tests plant
// what a hostile or broken one would leave there and check that imagec
// neither reads nor writes through it. Every link points at a sentinel the
// test made, never at a system path.

// sentinel creates a file outside the store whose content and mode must
// survive whatever the store does.
func sentinel(t *testing.T, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sentinel")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkSentinel(t *testing.T, p string, content []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("sentinel %s was written through: now %q", p, got)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("sentinel %s mode changed to %v", p, fi.Mode().Perm())
	}
}

// checkRegularBlob asserts that the committed blob is a regular file with
// exactly data in it.
func checkRegularBlob(t *testing.T, s *Store, data []byte) {
	t.Helper()
	d := descOf(data).Digest
	fi, err := os.Lstat(s.Path(d))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("committed blob is %v, not a regular file", fi.Mode().Type())
	}
	got, err := s.ReadBlob(context.Background(), d, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadBlob = %d bytes, %v", len(got), err)
	}
}

func ingestEntry(s *Store, data []byte) string {
	d := descOf(data).Digest
	return filepath.Join(s.Root(), ".imagec", "ingest", string(d.Algorithm())+"-"+d.Encoded())
}

func TestWriterDoesNotWriteThroughSymlinkedIngestData(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	data := testContent(4096)
	keep := []byte("the sentinel's own bytes")
	target := sentinel(t, keep)
	entry := ingestEntry(s, data)
	if err := os.MkdirAll(entry, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(entry, "data")); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBlob(context.Background(), descOf(data), data); err != nil {
		t.Fatal(err)
	}
	checkSentinel(t, target, keep)
	checkRegularBlob(t, s, data)
}

func TestWriterDoesNotFollowSymlinkedIngestEntry(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	data := testContent(2048)
	outside := t.TempDir()
	if err := os.Symlink(outside, ingestEntry(s, data)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBlob(context.Background(), descOf(data), data); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Errorf("the writer created %d files in the directory the entry linked to", len(left))
	}
	checkRegularBlob(t, s, data)
}

func TestSymlinkedBlobIsNotABlob(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	data := testContent(64)
	desc := descOf(data)
	// Same size as the blob, other content: a stat that followed the link
	// would call the blob present.
	other := bytes.Repeat([]byte("x"), len(data))
	target := sentinel(t, other)
	if err := os.Symlink(target, s.Path(desc.Digest)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(ctx, desc.Digest); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Info = %v, want not found", err)
	}
	if s.Has(ctx, desc) {
		t.Error("Has = true for a symlink")
	}
	if f, err := s.Open(ctx, desc.Digest); !errors.Is(err, errdefs.ErrNotFound) {
		if f != nil {
			b, _ := io.ReadAll(f)
			t.Errorf("Open read %q through the link", b)
		}
		t.Errorf("Open = %v, want not found", err)
	}
	if _, err := s.ReadBlob(ctx, desc.Digest, 1<<10); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ReadBlob = %v, want not found", err)
	}
	walked := 0
	if err := s.Walk(ctx, func(_ digest.Digest, _ int64) error { walked++; return nil }); err != nil || walked != 0 {
		t.Errorf("Walk saw %d blobs, %v", walked, err)
	}
	// A pull of the blob replaces the link with the verified file.
	if err := s.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	checkSentinel(t, target, other)
	checkRegularBlob(t, s, data)
}

func TestTruncatedBlobIsAbsentAndReplaced(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	data := testContent(10000)
	desc := descOf(data)
	if err := s.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	p := s.Path(desc.Digest)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 5000); err != nil {
		t.Fatal(err)
	}
	if s.Has(ctx, desc) {
		t.Fatal("Has = true for a blob cut to half its size")
	}
	w, err := s.Writer(ctx, desc)
	if err != nil {
		t.Fatalf("Writer over a truncated blob = %v, want a writer that replaces it", err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkRegularBlob(t, s, data)
}

// A descriptor that lies about the size of a present blob must not make a
// writer throw the good blob away: the replacement only lands if it
// verifies, and content of another size cannot hash to the same digest.
func TestWrongSizeDescriptorKeepsGoodBlob(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	data := testContent(300)
	desc := descOf(data)
	if err := s.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	lie := desc
	lie.Size = 301
	w, err := s.Writer(ctx, lie)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(append(bytes.Clone(data), 'x')); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("Commit = %v, want digest mismatch", err)
	}
	checkRegularBlob(t, s, data)
}

func TestOpenRefusesSymlinkedLayoutDirectories(t *testing.T) {
	t.Parallel()
	for _, rel := range []string{"blobs", ".imagec", "index.json"} {
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			outside := t.TempDir()
			if err := os.Symlink(outside, filepath.Join(root, rel)); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(root); err == nil {
				t.Fatalf("Open with %s a symlink succeeded", rel)
			}
			if left, _ := os.ReadDir(outside); len(left) != 0 {
				t.Errorf("Open created %d entries in the linked directory", len(left))
			}
		})
	}
}

func TestIndexReadIsBounded(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	f, err := os.Create(filepath.Join(s.Root(), "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxIndexSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := s.Images(context.Background()); !errors.Is(err, errdefs.ErrTooLarge) {
		t.Errorf("Images over an index.json of %d bytes = %v, want too large", MaxIndexSize+1, err)
	}
}
