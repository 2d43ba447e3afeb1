package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Spool directories hold the files of an archive that are not named by
// their digest (layers and configs of docker-archives older than docker
// 25) until the end of the archive says which of them an image needs. They
// live in the store's private directory, on the same filesystem as the
// blobs, which usually has the room /tmp lacks.
const (
	spoolPrefix = "load-"
	spoolLock   = "lock"
	// spoolAbandonAge is how old a spool directory whose lock is free must
	// be before another load removes it: old enough that it is not one a
	// load has just created and not yet locked.
	spoolAbandonAge = 10 * time.Minute
)

// spoolDir is a spool directory owned by one load, which holds an
// exclusive flock on its lock file until it removes the directory.
type spoolDir struct {
	path string
	lock *os.File
}

func (l *loader) spoolFile() (*os.File, error) {
	if l.scratch == nil {
		private := filepath.Join(l.st.Root(), ".imagec")
		sweepSpools(private)
		sd, err := newSpoolDir(private)
		if err != nil {
			return nil, fmt.Errorf("creating a spool directory in %s: %w", private, err)
		}
		l.scratch = sd
	}
	return os.CreateTemp(l.scratch.path, "file-")
}

func (l *loader) cleanup() {
	if l.scratch != nil {
		os.RemoveAll(l.scratch.path)
		l.scratch.lock.Close() // releases the flock
	}
}

func newSpoolDir(parent string) (*spoolDir, error) {
	dir, err := os.MkdirTemp(parent, spoolPrefix)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, spoolLock), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		os.RemoveAll(dir)
		return nil, err
	}
	return &spoolDir{path: dir, lock: f}, nil
}

// sweepSpools removes the spool directories of loads that died (killed, or
// the machine went down): their lock is free and they are not new. Failures
// only leave clutter, so they are ignored.
func sweepSpools(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), spoolPrefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < spoolAbandonAge {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, spoolLock), os.O_RDWR|unix.O_CLOEXEC, 0)
		if errors.Is(err, fs.ErrNotExist) {
			os.RemoveAll(dir) // died between creating the directory and its lock
			continue
		}
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}
