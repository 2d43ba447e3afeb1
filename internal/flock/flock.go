// Package flock takes flock(2) locks on open files: shared or exclusive,
// once or waiting under a context, and probes whether a lock is held
// without creating its file.
//
// The kernel ties a flock to the open file description, so a lock excludes
// other goroutines of this process (each opening its own description) as
// well as other processes, and vanishes when its holder dies, even by
// SIGKILL. Which file to lock, and what a lock on it means, is the caller's.
package flock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Mode is the kind of lock: any number of shared holders, or one exclusive.
type Mode int

const (
	Shared    Mode = unix.LOCK_SH
	Exclusive Mode = unix.LOCK_EX
)

// ErrBusy is returned by TryLock while someone else holds a conflicting
// lock.
var ErrBusy = errors.New("lock held by another holder")

// Polling backoff while waiting. flock(2) cannot be interrupted by a
// context, so a waiter polls with LOCK_NB; the cap keeps the hand-over
// latency small compared with any blob download.
const (
	pollMin = 2 * time.Millisecond
	pollMax = 100 * time.Millisecond
)

// TryLock makes one attempt at the lock on f without waiting, retrying
// only when a signal interrupts the call (EINTR). It fails with ErrBusy
// while the lock is held elsewhere. Taking a lock f already holds converts
// it to m.
func TryLock(f *os.File, m Mode) error {
	for {
		err := unix.Flock(int(f.Fd()), int(m)|unix.LOCK_NB)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EWOULDBLOCK:
			return ErrBusy
		}
		return fmt.Errorf("flock %s: %w", f.Name(), err)
	}
}

// Lock waits for the lock on f as Wait does.
func Lock(ctx context.Context, f *os.File, m Mode) error {
	return Wait(ctx, func() error { return TryLock(f, m) }, nil)
}

// Wait calls try until it returns something other than ErrBusy (nil once
// the lock is taken), sleeping between attempts from 2 ms, doubling, up to
// 100 ms. It returns ctx.Err() if ctx ends while waiting. onWait, if not
// nil, runs once, the first time try finds the lock busy. try is for
// callers that must reopen or check the file between attempts; Lock is
// Wait for a file that stays open.
func Wait(ctx context.Context, try func() error, onWait func()) error {
	delay := pollMin
	for waited := false; ; waited = true {
		err := try()
		if !errors.Is(err, ErrBusy) {
			return err
		}
		if !waited && onWait != nil {
			onWait()
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, pollMax)
	}
}

// Unlock drops the lock on f. Closing f drops it as well; unlocking first
// makes the release independent of descriptor copies a forked child might
// still hold.
func Unlock(f *os.File) error {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_UN); err != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), err)
	}
	return nil
}

// Held reports whether some process holds an exclusive lock on the file at
// path. The probe asks for a shared lock without waiting and drops it at
// once (so shared holders go unseen); it never creates the file (a missing
// file is not held), so whatever it looks at is left as it was. A holder that tries to lock at the same instant
// finds the lock busy for that instant, as it would with any other holder.
func Held(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	return HeldFile(f)
}

// HeldFile is Held for a file the caller opened (without following
// symlinks, say).
func HeldFile(f *os.File) (bool, error) {
	switch err := TryLock(f, Shared); {
	case err == nil:
		_ = Unlock(f)
		return false, nil
	case errors.Is(err, ErrBusy):
		return true, nil
	default:
		return false, fmt.Errorf("probe %w", err)
	}
}
