package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
)

// TestWriterRace has many goroutines race to store the same blobs; every
// one must end in success or ErrAlreadyExists with the content intact and
// no ingest entry left behind (this exercises lock files being unlinked
// under waiters).
func TestWriterRace(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	var wg sync.WaitGroup
	for b := range 10 {
		data := testContent(20_000 + b)
		for range 6 {
			wg.Go(func() {
				w, err := s.Writer(context.Background(), descOf(data))
				if errors.Is(err, errdefs.ErrAlreadyExists) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				defer w.Close()
				if w.Offset() != 0 {
					t.Errorf("unexpected partial data at %d", w.Offset())
				}
				if _, err := w.Write(data); err != nil {
					t.Error(err)
				}
				if err := w.Commit(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for b := range 10 {
		assertStored(t, s, testContent(20_000+b))
	}
	assertNoIngest(t, s)
}

// TestWriterLockHeldByKilledProcess has another process hold the ingest
// lock with partial data, kills it with SIGKILL and checks the waiting
// writer takes over and resumes the partial data.
func TestWriterLockHeldByKilledProcess(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	const size, partial = 30_000, 11_111
	data := testContent(size)
	proc, out, wait := startHelper(t, "hold-writer",
		"ROOT="+s.Root(), "SIZE="+strconv.Itoa(size), "PARTIAL="+strconv.Itoa(partial))
	if line, err := out.ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	ws, errs, calls := startWaiter(t, context.Background(), s, descOf(data))
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	wait()
	var w content.Writer
	select {
	case w = <-ws:
	case <-time.After(10 * time.Second):
		t.Fatal("writer did not proceed after the lock holder was killed")
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if calls.Load() != 1 {
		t.Errorf("WithWaiting called %d times", calls.Load())
	}
	if w.Offset() != partial {
		t.Fatalf("Offset = %d, want the killed writer's %d", w.Offset(), partial)
	}
	mustWrite(t, w, data[partial:])
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertStored(t, s, data)
}

// BenchmarkWriter measures the ingest hot path: 32 KiB writes (what
// io.Copy from an HTTP body does), hashing, and one fsync at commit.
func BenchmarkWriter(b *testing.B) {
	data := testContent(64 << 20)
	desc := descOf(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		w, err := s.Writer(context.Background(), desc)
		if err != nil {
			b.Fatal(err)
		}
		for chunk := range slices.Chunk(data, 32<<10) {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPruneIngest(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	idle, busy := testContent(300), testContent(301)
	w, err := s.Writer(context.Background(), descOf(idle))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, idle[:10])
	w.Close()
	wb := mustWriter(t, s, descOf(busy))
	mustWrite(t, wb, busy[:10])
	n, err := s.PruneIngest(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("PruneIngest = %d, %v; want 1 (the idle entry)", n, err)
	}
	if _, err := os.Stat(filepath.Dir(ingestData(s, descOf(idle).Digest))); !os.IsNotExist(err) {
		t.Errorf("idle entry still present: %v", err)
	}
	if w := mustWriter(t, s, descOf(idle)); w.Offset() != 0 {
		t.Errorf("pruned entry resumed at %d", w.Offset())
	}
	mustWrite(t, wb, busy[10:])
	if err := wb.Commit(context.Background()); err != nil {
		t.Fatalf("busy writer broken by prune: %v", err)
	}
}
