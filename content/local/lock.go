package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/internal/flock"
)

// fileLock is an exclusive flock(2) on a lock file (see internal/flock:
// it excludes other goroutines of this process as well as other processes,
// and vanishes when the holder dies).
type fileLock struct {
	f *os.File
}

// errLockStale is the outcome of a tryLock attempt that found the file it
// locked unlinked: callers start over on a fresh file rather than report it.
var errLockStale = errors.New("lock file was unlinked by its previous holder")

// acquireLock takes an exclusive lock on rel (relative to the store root),
// creating the file (and its directory) if needed, and waits while someone
// else holds it. onWait, if not nil, is called once, the first time the lock
// is found busy. No symlink is followed on the way to the lock file.
func (s *Store) acquireLock(ctx context.Context, rel string, onWait func()) (*fileLock, error) {
	var l *fileLock
	err := flock.Wait(ctx, func() (err error) {
		l, err = s.lockOnce(ctx, rel)
		return err
	}, onWait)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", s.fs.Join(rel), err)
	}
	return l, nil
}

// lockOnce tries the lock on rel until it is taken or found busy
// (flock.ErrBusy): a stale or missing lock file is no reason to wait.
func (s *Store) lockOnce(ctx context.Context, rel string) (*fileLock, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, err := s.tryLock(rel)
		switch {
		case errors.Is(err, errLockStale):
			continue
		case errors.Is(err, fs.ErrNotExist):
			// The directory is missing, or was removed by a committing
			// writer between our attempts; (re)create it and try again.
			// EEXIST means another process raced us (and may remove it
			// again at once), which the next attempt sorts out.
			err := s.fs.MkdirAll(filepath.Dir(rel), dirPerm)
			if err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			continue
		}
		return l, err
	}
}

// tryLock makes one attempt at the lock on rel, creating the file but not
// its directory. It fails with flock.ErrBusy while another holder has the
// lock, and with errLockStale if the file it locked is no longer the one at
// path: ingest entries are removed at commit, and a waiter that then wins
// the lock on the orphaned inode must start over on a fresh file, or two
// writers could each hold "the" lock.
func (s *Store) tryLock(rel string) (*fileLock, error) {
	f, err := s.fs.OpenFile(rel, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, err
	}
	if lockFileOpened != nil {
		lockFileOpened(rel)
	}
	if err := flock.TryLock(f, flock.Exclusive); err != nil {
		f.Close()
		return nil, err
	}
	same, err := s.stillLinked(f, rel)
	if err != nil || !same {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, errLockStale
	}
	return &fileLock{f: f}, nil
}

// lockFileOpened, when a test sets it, runs in tryLock between opening the
// lock file and locking it: the window in which a pruner or a committing
// writer can unlink the file under a waiter. A real race hits it rarely;
// the hook lets a test hit it every time. Nil outside tests.
var lockFileOpened func(path string)

// stillLinked reports whether rel still refers to the file open as f.
func (s *Store) stillLinked(f *os.File, rel string) (bool, error) {
	var held unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &held); err != nil {
		return false, err
	}
	cur, err := s.fs.Lstat(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return held.Dev == cur.Dev && held.Ino == cur.Ino, nil
}

// release drops the lock.
func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = flock.Unlock(l.f)
	err := l.f.Close()
	l.f = nil
	return err
}

// withLock runs fn while holding the lock at rel.
func (s *Store) withLock(ctx context.Context, rel string, fn func() error) error {
	l, err := s.acquireLock(ctx, rel, nil)
	if err != nil {
		return err
	}
	ferr := fn()
	if rerr := l.release(); ferr == nil && rerr != nil {
		return fmt.Errorf("unlock %s: %w", s.fs.Join(rel), rerr)
	}
	return ferr
}
