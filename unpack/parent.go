package unpack

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// maxParents bounds the directories parentCache holds open.
const maxParents = 1024

// parentCache keeps the directories recent entries went into open, so that
// the entries of one directory resolve it once instead of once per entry.
//
// A cached descriptor stays what a fresh lookup of its path would return as
// long as nothing is removed from the root: creating an entry never changes
// what an existing path resolves to (a name that was free cannot be a
// component of a path that resolved). removeAll, the one place anything is
// removed, marks the cache stale; it is emptied on the next lookup, so a
// caller holding a descriptor from before the removal can still use it.
type parentCache struct {
	dirs  map[string]cachedDir
	stale bool
	// last is the directory the last lookup returned.
	last cachedDir
}

type cachedDir struct {
	fd int
	// setgid is whether the directory has the setgid bit, which gives new
	// files its group instead of the extractor's.
	setgid bool
}

// openParent returns the directory holding rel (creating it if needed),
// from the cache, with rel's last component. The root itself is its own
// parent under the name ".". The descriptor belongs to the cache: callers
// do not close it.
func (x *extractor) openParent(rel string) (int, string, error) {
	dir, base := splitName(rel)
	c := &x.parent
	if c.stale {
		x.dropParents()
	}
	if d, ok := c.dirs[dir]; ok {
		c.last = d
		return d.fd, base, nil
	}
	if len(c.dirs) >= maxParents {
		x.dropParents()
	}
	fd, err := x.mkdirAll(dir)
	if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
		x.dropParents() // give the descriptors back and try once more
		fd, err = x.mkdirAll(dir)
	}
	if err != nil {
		return -1, "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, "", fmt.Errorf("stat directory %s: %w", short(dir), err)
	}
	d := cachedDir{fd: fd, setgid: st.Mode&unix.S_ISGID != 0}
	if c.dirs == nil {
		c.dirs = make(map[string]cachedDir)
	}
	c.dirs[dir], c.last = d, d
	return fd, base, nil
}

// dropParents closes every cached directory.
func (x *extractor) dropParents() {
	for _, d := range x.parent.dirs {
		unix.Close(d.fd)
	}
	clear(x.parent.dirs)
	x.parent.stale = false
	x.parent.last = cachedDir{fd: -1}
}
