package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Each open is its own file description, so two opens in one process
// conflict as two processes would.
func TestTryLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	a, b := open(t, path), open(t, path)
	for _, tc := range []struct {
		first, second Mode
		busy          bool
	}{
		{Shared, Shared, false},
		{Shared, Exclusive, true},
		{Exclusive, Shared, true},
		{Exclusive, Exclusive, true},
	} {
		if err := TryLock(a, tc.first); err != nil {
			t.Fatal(err)
		}
		err := TryLock(b, tc.second)
		if tc.busy != errors.Is(err, ErrBusy) || (!tc.busy && err != nil) {
			t.Errorf("%v then %v: %v, want busy %v", tc.first, tc.second, err, tc.busy)
		}
		if err := Unlock(a); err != nil {
			t.Fatal(err)
		}
		if err := Unlock(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLockWaitsForRelease(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	holder, waiter := open(t, path), open(t, path)
	if err := TryLock(holder, Exclusive); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	time.AfterFunc(30*time.Millisecond, func() { released <- Unlock(holder) })
	start := time.Now()
	if err := Lock(context.Background(), waiter, Exclusive); err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Error("took the lock while it was held")
	}
}

func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	waits, tries := 0, 0
	err := Wait(ctx, func() error { tries++; return ErrBusy }, func() { waits++ })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	// 2+4+8+16+32 ms: a handful of attempts, not a spin.
	if waits != 1 || tries < 2 || tries > 10 {
		t.Errorf("onWait ran %d times over %d attempts", waits, tries)
	}
	other := errors.New("other")
	if err := Wait(context.Background(), func() error { return other }, nil); err != other {
		t.Errorf("err = %v, want the attempt's own error", err)
	}
}

func TestHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if held, err := Held(missing); held || err != nil {
		t.Errorf("Held(missing) = %v, %v", held, err)
	}
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the probe created the file: %v", err)
	}
	path := filepath.Join(dir, "lock")
	f := open(t, path)
	if held, err := Held(path); held || err != nil {
		t.Errorf("Held(free) = %v, %v", held, err)
	}
	for _, m := range []Mode{Shared, Exclusive} {
		if err := TryLock(f, m); err != nil {
			t.Fatal(err)
		}
		// The probe is shared: it sees exclusive holders only.
		held, err := Held(path)
		if err != nil || held != (m == Exclusive) {
			t.Errorf("Held with a %v holder = %v, %v", m, held, err)
		}
		if err := Unlock(f); err != nil {
			t.Fatal(err)
		}
	}
}
