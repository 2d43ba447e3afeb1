package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

// The store is a directory other programs can write to. These tests plant
// what a hostile or broken one would leave there and check that imagec
// neither reads nor writes through it. Every link points at a sentinel the
// test made, never at a system path.

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
