package local

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
)

func TestBlobNotFound(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	d := digest.FromString("absent")
	checks := map[string]func() error{
		"Info":     func() error { _, err := s.Info(ctx, d); return err },
		"Open":     func() error { _, err := s.Open(ctx, d); return err },
		"ReadBlob": func() error { _, err := s.ReadBlob(ctx, d, 10); return err },
		"Delete":   func() error { return s.Delete(ctx, d) },
	}
	for name, f := range checks {
		if err := f(); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s = %v, want not found", name, err)
		}
	}
}

func TestBlobInvalidDigest(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	d := digest.Digest("sha256:../../oci-layout")
	if _, err := s.Info(ctx, d); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Info = %v", err)
	}
	if err := s.Delete(ctx, d); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Delete = %v", err)
	}
}

func TestWriteBlobAndRead(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	data := testContent(1234)
	desc := descOf(data)
	if err := s.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBlob(ctx, desc, data); err != nil {
		t.Errorf("WriteBlob of present blob = %v, want nil", err)
	}
	if n, err := s.Info(ctx, desc.Digest); err != nil || n != 1234 {
		t.Errorf("Info = %d, %v", n, err)
	}
	f, err := s.Open(ctx, desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if digest.FromBytes(got) != desc.Digest {
		t.Error("Open returned different content")
	}
	if _, err := s.ReadBlob(ctx, desc.Digest, 1233); !errors.Is(err, errdefs.ErrTooLarge) {
		t.Errorf("ReadBlob over limit = %v, want too large", err)
	}
	if err := s.Delete(ctx, desc.Digest); err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, s, desc.Digest)
}

func TestWriteBlobChecks(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	data := testContent(64)
	tests := []struct {
		name string
		mod  func(d *[]byte)
		want error
	}{
		{"short", func(d *[]byte) { *d = (*d)[:63] }, errdefs.ErrSizeMismatch},
		{"corrupt", func(d *[]byte) { (*d)[0] ^= 1 }, errdefs.ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := slices.Clone(data)
			tt.mod(&b)
			if err := s.WriteBlob(context.Background(), descOf(data), b); !errors.Is(err, tt.want) {
				t.Errorf("WriteBlob = %v, want %v", err, tt.want)
			}
			assertAbsent(t, s, descOf(data).Digest)
		})
	}
}

// TestWriteBlobOverPartial checks that WriteBlob ignores stale partial
// ingest data instead of appending to it.
func TestWriteBlobOverPartial(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	data := testContent(500)
	w, err := s.Writer(context.Background(), descOf(data))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(testContent(499)[:100])
	w.Close()
	if err := s.WriteBlob(context.Background(), descOf(data), data); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
}

func TestReadBlobDetectsCorruption(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	data := testContent(4096)
	desc := descOf(data)
	if err := s.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	p := s.Path(desc.Digest)
	os.Chmod(p, 0o644)
	bad := slices.Clone(data)
	bad[100] ^= 0xff
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadBlob(ctx, desc.Digest, 4096); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Errorf("ReadBlob of corrupted blob = %v, want digest mismatch", err)
	}
}

func TestWalk(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	want := map[digest.Digest]int64{}
	for i := range 5 {
		data := testContent(i * 10)
		if err := s.WriteBlob(ctx, descOf(data), data); err != nil {
			t.Fatal(err)
		}
		want[descOf(data).Digest] = int64(len(data))
	}
	// Junk that is not a blob must be skipped.
	os.WriteFile(filepath.Join(s.Root(), "blobs", "sha256", "tmp-123"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(s.Root(), "blobs", "nothash"), 0o755)
	got := map[digest.Digest]int64{}
	err := s.Walk(ctx, func(d digest.Digest, size int64) error {
		got[d] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Walk saw %d blobs, want %d: %v", len(got), len(want), got)
	}
	for d, n := range want {
		if got[d] != n {
			t.Errorf("Walk %s size %d, want %d", d, got[d], n)
		}
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.Walk(ctx, func(digest.Digest, int64) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Walk with failing fn = %v after %d calls", err, calls)
	}
}
