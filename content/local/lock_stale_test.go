package local

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
)

// TestWaiterRacesPrune puts ingest pruning in the window between a waiting
// writer opening the lock file and locking it. The prune unlinks that file
// and a rival writer starts on a fresh one; the waiter then locks the
// orphaned inode without contention. Unless it notices that the file is no
// longer the one at the path (the stale-inode rule), it proceeds beside the
// rival: two writers of one blob, each holding "the" lock.
//
// Not parallel: it sets the package's lockFileOpened hook, and parallel
// tests start only once the sequential ones have finished.
func TestWaiterRacesPrune(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := testContent(9000)
	desc := descOf(data)
	lockSuffix := "/" + string(desc.Digest.Algorithm()) + "-" + desc.Digest.Encoded() + "/lock"

	holder := mustWriter(t, s, desc)
	mustWrite(t, holder, data[:1000])

	var armed, fired atomic.Bool
	var pruned int
	var pruneErr error
	rival := make(chan content.Writer, 1)
	lockFileOpened = func(path string) {
		if !strings.HasSuffix(path, lockSuffix) || !armed.Load() || !fired.CompareAndSwap(false, true) {
			return
		}
		// Runs in the waiter's goroutine, its lock file open and unlocked.
		holder.Close() // the entry goes idle, partial data kept
		pruned, pruneErr = s.PruneIngest(ctx)
		w, err := s.Writer(ctx, desc)
		if err != nil {
			t.Errorf("rival writer: %v", err)
		}
		rival <- w
	}
	t.Cleanup(func() { lockFileOpened = nil })

	ws, errs, _ := startWaiter(t, ctx, s, desc)
	armed.Store(true) // the waiter's next attempt runs the race
	var w2 content.Writer
	select {
	case w2 = <-rival:
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter never retried the lock")
	}
	if w2 == nil {
		t.FailNow()
	}
	if pruned != 1 || pruneErr != nil {
		t.Fatalf("PruneIngest = %d, %v; want the idle entry removed", pruned, pruneErr)
	}
	if w2.Offset() != 0 {
		t.Fatalf("rival resumed at %d from a pruned entry", w2.Offset())
	}
	mustWrite(t, w2, data)
	if err := w2.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	var w content.Writer
	select {
	case w = <-ws:
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter did not finish after the rival committed")
	}
	if err := <-errs; !errors.Is(err, errdefs.ErrAlreadyExists) {
		if w != nil {
			w.Close()
		}
		t.Fatalf("waiter: writer %v, error %v; want ErrAlreadyExists (it must wait for the rival, not hold the lock beside it)", w != nil, err)
	}
	assertStored(t, s, data)
	assertNoIngest(t, s)
}
