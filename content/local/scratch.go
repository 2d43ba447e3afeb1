package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/flock"
)

// Scratch directories hold data that is not a blob yet (the files of an
// archive whose digests are unknown until its end). They live in the
// store's private directory, on the same filesystem as the blobs, which
// usually has the room /tmp lacks. Each is owned by one process, which
// holds an exclusive flock on its lock file until it removes the directory.
const (
	scratchPrefix = "tmp-"
	scratchLock   = "lock"
	// scratchAbandonAge is how old a scratch directory whose lock is free
	// must be before another TempDir removes it: old enough that it is not
	// one just created and not yet locked.
	scratchAbandonAge = 10 * time.Minute
)

// TempDir creates a private scratch directory in the store, named after
// prefix (letters, digits and '-'). release removes it. Directories whose
// owner died (killed, or the machine went down) are removed by a later
// TempDir.
func (s *Store) TempDir(ctx context.Context, prefix string) (string, func(), error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	if strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", nil, fmt.Errorf("scratch directory prefix %q: %w", prefix, errdefs.ErrInvalidArgument)
	}
	// The private directory was checked to be a real one when the store
	// opened; what is made below it is new and random.
	private := s.fs.Join(privateDir)
	s.sweepScratch(private)
	dir, err := os.MkdirTemp(private, scratchPrefix+prefix)
	if err != nil {
		return "", nil, diskFull(s.root, fmt.Errorf("creating a scratch directory in %s: %w", private, err))
	}
	f, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_CREATE|os.O_RDWR|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		if err = flock.TryLock(f, flock.Exclusive); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, diskFull(s.root, fmt.Errorf("locking scratch directory %s: %w", dir, err))
	}
	release := func() {
		os.RemoveAll(dir)
		f.Close() // releases the flock
	}
	return dir, release, nil
}

// sweepScratch removes the scratch directories of processes that died: their
// lock is free and they are not new. Failures only leave clutter.
func (s *Store) sweepScratch(private string) {
	entries, err := os.ReadDir(private)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix) {
			continue
		}
		dir := filepath.Join(private, e.Name())
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < scratchAbandonAge {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, scratchLock), os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, fs.ErrNotExist) {
			os.RemoveAll(dir) // died between creating the directory and its lock
			continue
		}
		if err != nil {
			continue
		}
		if flock.TryLock(f, flock.Exclusive) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}
