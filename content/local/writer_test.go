package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
)

// writerConformance is the behaviour every ingest path must have; it runs
// against a fresh store per case.
var writerConformance = []struct {
	name string
	run  func(t *testing.T, s *Store)
}{
	{"write and commit", testWriteCommit},
	{"empty blob", testEmptyBlob},
	{"sha512 blob", testSHA512Blob},
	{"wrong digest", testWrongDigest},
	{"too long refused at write", testTooLong},
	{"too short refused at commit", testTooShort},
	{"too short after resume refused at commit", testResumedTooShort},
	{"resume after close", testResume},
	{"read back while writing", testReadBack},
	{"oversized partial discarded", testOversizedPartial},
	{"reset", testReset},
	{"already exists", testAlreadyExists},
	{"second writer waits", testSecondWriterWaits},
	{"waiter resumes closed writer", testWaiterResumes},
	{"waiter after failed commit starts at zero", testWaiterAfterMismatch},
	{"wait honours context", testWaitCancelled},
	{"invalid descriptor", testInvalidDescriptor},
	{"use after close", testUseAfterClose},
}

func TestWriterConformance(t *testing.T) {
	t.Parallel()
	for _, c := range writerConformance {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore(t))
		})
	}
}

func mustWriter(t *testing.T, s *Store, desc ocispec.Descriptor, opts ...content.WriterOption) content.Writer {
	t.Helper()
	w, err := s.Writer(context.Background(), desc, opts...)
	if err != nil {
		t.Fatalf("Writer(%s): %v", desc.Digest, err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func mustWrite(t *testing.T, w content.Writer, p []byte) {
	t.Helper()
	if n, err := w.Write(p); err != nil || n != len(p) {
		t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
	}
}

// assertStored checks the blob is committed with exactly data.
func assertStored(t *testing.T, s *Store, data []byte) {
	t.Helper()
	d := digest.FromBytes(data)
	got, err := s.ReadBlob(context.Background(), d, int64(len(data)))
	if err != nil {
		t.Fatalf("ReadBlob(%s): %v", d, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("blob %s content differs", d)
	}
}

func assertAbsent(t *testing.T, s *Store, d digest.Digest) {
	t.Helper()
	if _, err := s.Info(context.Background(), d); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Info(%s) = %v, want not found", d, err)
	}
}

func ingestData(s *Store, d digest.Digest) string {
	return filepath.Join(s.Root(), ".imagec", "ingest", string(d.Algorithm())+"-"+d.Encoded(), "data")
}

func assertNoIngest(t *testing.T, s *Store) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Root(), ".imagec", "ingest"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("ingest entries left: %v, %v", entries, err)
	}
}

func testWriteCommit(t *testing.T, s *Store) {
	data := testContent(100_000)
	w := mustWriter(t, s, descOf(data))
	for chunk := range slices.Chunk(data, 4096) {
		mustWrite(t, w, chunk)
	}
	if w.Offset() != int64(len(data)) {
		t.Fatalf("Offset = %d", w.Offset())
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
	assertNoIngest(t, s)
	if fi, err := os.Stat(s.Path(digest.FromBytes(data))); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("blob mode = %v, %v; want read-only", fi.Mode(), err)
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Errorf("second Commit = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Commit = %v", err)
	}
}

func testEmptyBlob(t *testing.T, s *Store) {
	w := mustWriter(t, s, descOf(nil))
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, nil)
}

func testSHA512Blob(t *testing.T, s *Store) {
	data := testContent(999)
	desc := ocispec.Descriptor{Digest: digest.SHA512.FromBytes(data), Size: int64(len(data))}
	w := mustWriter(t, s, desc)
	mustWrite(t, w, data)
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "blobs", "sha512", desc.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadBlob(context.Background(), desc.Digest, 999); err != nil {
		t.Fatal(err)
	}
}

func testWrongDigest(t *testing.T, s *Store) {
	data := testContent(5000)
	desc := descOf(data)
	desc.Digest = digest.FromString("something else")
	w := mustWriter(t, s, desc)
	mustWrite(t, w, data)
	if err := w.Commit(context.Background()); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("Commit = %v, want digest mismatch", err)
	}
	assertAbsent(t, s, desc.Digest)
	assertAbsent(t, s, digest.FromBytes(data))
	if w.Offset() != 0 {
		t.Errorf("Offset after mismatch = %d, want 0", w.Offset())
	}
	if fi, err := os.Stat(ingestData(s, desc.Digest)); err != nil || fi.Size() != 0 {
		t.Errorf("ingest data after mismatch: %v, %v; want empty", fi, err)
	}
	w.Close()
	if w2 := mustWriter(t, s, desc); w2.Offset() != 0 {
		t.Errorf("retry starts at %d, want 0", w2.Offset())
	}
}

func testTooLong(t *testing.T, s *Store) {
	data := testContent(3000)
	w := mustWriter(t, s, descOf(data))
	mustWrite(t, w, data[:1000])
	n, err := w.Write(append(bytes.Clone(data[1000:]), 'x'))
	if !errors.Is(err, errdefs.ErrSizeMismatch) || n != 0 {
		t.Fatalf("overlong Write = %d, %v; want 0, size mismatch", n, err)
	}
	if w.Offset() != 1000 {
		t.Fatalf("Offset after refused write = %d", w.Offset())
	}
	if fi, _ := os.Stat(ingestData(s, descOf(data).Digest)); fi.Size() != 1000 {
		t.Fatalf("ingest file grew to %d on a refused write", fi.Size())
	}
	mustWrite(t, w, data[1000:])
	if _, err := w.Write([]byte{0}); !errors.Is(err, errdefs.ErrSizeMismatch) {
		t.Fatalf("Write past end = %v", err)
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
}

func testTooShort(t *testing.T, s *Store) {
	data := testContent(3001)
	w := mustWriter(t, s, descOf(data))
	mustWrite(t, w, data[:3000])
	if err := w.Commit(context.Background()); !errors.Is(err, errdefs.ErrSizeMismatch) {
		t.Fatalf("Commit = %v, want size mismatch", err)
	}
	assertAbsent(t, s, descOf(data).Digest)
	if w.Offset() != 0 {
		t.Errorf("Offset = %d, want 0", w.Offset())
	}
	// The writer stays usable: a full rewrite commits.
	mustWrite(t, w, data)
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
}

// A writer that resumes an earlier writer's partial data and commits before
// the end is refused by the commit's size check, whatever the offset
// bookkeeping of the two writers, and the partial data does not survive.
func testResumedTooShort(t *testing.T, s *Store) {
	data := testContent(3002)
	desc := descOf(data)
	w := mustWriter(t, s, desc)
	mustWrite(t, w, data[:1000])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = mustWriter(t, s, desc)
	if w.Offset() != 1000 {
		t.Fatalf("resumed Offset = %d, want 1000", w.Offset())
	}
	mustWrite(t, w, data[1000:2000])
	if err := w.Commit(context.Background()); !errors.Is(err, errdefs.ErrSizeMismatch) {
		t.Fatalf("Commit of 2000 of %d bytes = %v, want size mismatch", len(data), err)
	}
	assertAbsent(t, s, desc.Digest)
	w.Close()
	if w := mustWriter(t, s, desc); w.Offset() != 0 {
		t.Errorf("after a refused commit the next writer resumes at %d, want 0", w.Offset())
	}
}

func testResume(t *testing.T, s *Store) {
	data := testContent(50_000)
	desc := descOf(data)
	w, err := s.Writer(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, data[:12345])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = mustWriter(t, s, desc)
	if w.Offset() != 12345 {
		t.Fatalf("resumed Offset = %d, want 12345", w.Offset())
	}
	mustWrite(t, w, data[12345:])
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
}

func testOversizedPartial(t *testing.T, s *Store) {
	data := testContent(100)
	desc := descOf(data)
	p := ingestData(s, desc.Digest)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, testContent(200), 0o644)
	w := mustWriter(t, s, desc)
	if w.Offset() != 0 {
		t.Fatalf("Offset = %d, want 0 for partial data longer than the blob", w.Offset())
	}
	mustWrite(t, w, data)
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func testReset(t *testing.T, s *Store) {
	data := testContent(4000)
	w := mustWriter(t, s, descOf(data))
	mustWrite(t, w, testContent(3000)) // wrong bytes, e.g. a server that ignored Range
	if err := w.Reset(); err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 0 {
		t.Fatalf("Offset after Reset = %d", w.Offset())
	}
	mustWrite(t, w, data)
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
}

func testAlreadyExists(t *testing.T, s *Store) {
	data := testContent(10)
	if err := s.WriteBlob(context.Background(), descOf(data), data); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Writer(context.Background(), descOf(data)); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("Writer = %v, want already exists", err)
	}
	assertNoIngest(t, s)
}

// startWaiter opens a second writer in a goroutine and returns once it is
// blocked on the lock.
func startWaiter(t *testing.T, ctx context.Context, s *Store, desc ocispec.Descriptor) (<-chan content.Writer, <-chan error, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	waiting := make(chan struct{})
	ws, errs := make(chan content.Writer, 1), make(chan error, 1)
	go func() {
		w, err := s.Writer(ctx, desc, content.WithWaiting(func() {
			if calls.Add(1) == 1 {
				close(waiting)
			}
		}))
		ws <- w
		errs <- err
	}()
	select {
	case <-waiting:
	case err := <-errs:
		t.Fatalf("second Writer returned without waiting: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("second Writer never reported waiting")
	}
	return ws, errs, &calls
}

func testSecondWriterWaits(t *testing.T, s *Store) {
	data := testContent(7000)
	desc := descOf(data)
	w := mustWriter(t, s, desc)
	ws, errs, calls := startWaiter(t, context.Background(), s, desc)
	mustWrite(t, w, data)
	time.Sleep(20 * time.Millisecond) // let the waiter poll a few times
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-ws
	if err := <-errs; !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("waiting Writer = %v, want already exists", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("WithWaiting called %d times, want 1", n)
	}
	assertStored(t, s, data)
	assertNoIngest(t, s)
}

func testWaiterResumes(t *testing.T, s *Store) {
	data := testContent(7001)
	desc := descOf(data)
	w := mustWriter(t, s, desc)
	mustWrite(t, w, data[:3000])
	ws, errs, _ := startWaiter(t, context.Background(), s, desc)
	w.Close()
	w2 := <-ws
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if w2.Offset() != 3000 {
		t.Fatalf("waiter Offset = %d, want 3000", w2.Offset())
	}
	mustWrite(t, w2, data[3000:])
	if err := w2.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
}

func testWaiterAfterMismatch(t *testing.T, s *Store) {
	data := testContent(7002)
	desc := descOf(data)
	w := mustWriter(t, s, desc)
	mustWrite(t, w, testContent(7002 + 1)[:7002])
	ws, errs, _ := startWaiter(t, context.Background(), s, desc)
	if err := w.Commit(context.Background()); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("Commit = %v", err)
	}
	w.Close()
	w2 := <-ws
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if w2.Offset() != 0 {
		t.Fatalf("waiter Offset = %d, want 0", w2.Offset())
	}
}

func testWaitCancelled(t *testing.T, s *Store) {
	data := testContent(7003)
	mustWriter(t, s, descOf(data))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Writer(ctx, descOf(data)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Writer = %v, want deadline exceeded", err)
	}
}

func testInvalidDescriptor(t *testing.T, s *Store) {
	for _, desc := range []ocispec.Descriptor{
		{Digest: "sha256:../../../etc/passwd", Size: 1},
		{Digest: "", Size: 1},
		{Digest: digest.FromString("x"), Size: -1},
	} {
		if _, err := s.Writer(context.Background(), desc); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Writer(%+v) = %v, want invalid argument", desc, err)
		}
	}
}

func testUseAfterClose(t *testing.T, s *Store) {
	data := testContent(10)
	w := mustWriter(t, s, descOf(data))
	w.Close()
	if _, err := w.Write(data); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	if err := w.Commit(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Commit after Close = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// testReadBack reads back resumed and new data through ReadAt, the way a
// server streams a blob on while it is ingested.
func testReadBack(t *testing.T, s *Store) {
	data := testContent(50_000)
	desc := descOf(data)
	w := mustWriter(t, s, desc)
	mustWrite(t, w, data[:1000])
	w.Close()
	w = mustWriter(t, s, desc)
	mustWrite(t, w, data[1000:30_000])
	ra, ok := w.(io.ReaderAt)
	if !ok {
		t.Fatal("the local writer is not an io.ReaderAt")
	}
	got := make([]byte, 30_000)
	if n, err := ra.ReadAt(got, 0); n != len(got) || err != nil || !bytes.Equal(got, data[:30_000]) {
		t.Fatalf("ReadAt = %d, %v (same bytes: %v)", n, err, bytes.Equal(got, data[:30_000]))
	}
	mustWrite(t, w, data[30_000:])
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.ReadAt(got[:1], 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("ReadAt after Commit = %v, want os.ErrClosed", err)
	}
}
