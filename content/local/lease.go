package local

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// gcLockFile serializes garbage collection against writers: writers hold it
// shared for as long as they may add blobs that no name references yet;
// collection holds it exclusively.
const gcLockFile = "gc.lock"

// Lease protects what the caller is about to write from garbage collection
// until release is called: a pull commits blobs before it names the image
// that references them, and a collection in between would see them as
// garbage. Any number of leases coexist, across processes; a collection
// waits for them. The kernel drops a lease when its process dies.
func (s *Store) Lease(ctx context.Context) (release func(), err error) {
	return s.gcLock(ctx, unix.LOCK_SH)
}

// Exclusive waits until no lease is held and keeps new ones out until
// release is called. Garbage collection runs under it.
func (s *Store) Exclusive(ctx context.Context) (release func(), err error) {
	return s.gcLock(ctx, unix.LOCK_EX)
}

func (s *Store) gcLock(ctx context.Context, how int) (func(), error) {
	f, err := s.fs.OpenFile(privateDir+"/"+gcLockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.root, err)
	}
	delay := lockPollMin
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("store %s: locking %s: %w", s.root, gcLockFile, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("store %s: waiting for %s: %w", s.root, gcLockFile, ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, lockPollMax)
	}
}
