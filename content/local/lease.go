package local

import (
	"context"
	"fmt"
	"os"

	"github.com/imagec/imagec/internal/flock"
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
	return s.gcLock(ctx, flock.Shared)
}

// Exclusive waits until no lease is held and keeps new ones out until
// release is called. Garbage collection runs under it.
func (s *Store) Exclusive(ctx context.Context) (release func(), err error) {
	return s.gcLock(ctx, flock.Exclusive)
}

func (s *Store) gcLock(ctx context.Context, mode flock.Mode) (func(), error) {
	f, err := s.fs.OpenFile(privateDir+"/"+gcLockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.root, err)
	}
	if err := flock.Lock(ctx, f, mode); err != nil {
		f.Close()
		return nil, fmt.Errorf("store %s: locking %s: %w", s.root, gcLockFile, err)
	}
	return func() { _ = flock.Unlock(f); f.Close() }, nil
}
