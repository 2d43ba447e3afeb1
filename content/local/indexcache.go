package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/errdefs"
)

// indexCache keeps index.json decoded between reads, for as long as the
// file is the same file: a store with thousands of names would otherwise
// decode megabytes of JSON for every look-up. index.json is only ever
// replaced by rename, so a new version is a new inode; the cache is keyed
// by the file's identity, size and modification time, checked with one
// stat per read.
type indexCache struct {
	mu  sync.Mutex
	key indexKey
	raw *rawIndex
	// idx is the whole index decoded, once a caller asked for all of it.
	idx     *ocispec.Index
	decoded map[int]ocispec.Descriptor // entries decoded for look-ups
}

type indexKey struct {
	dev, ino uint64
	size     int64
	mtime    unix.Timespec
}

func keyOf(st unix.Stat_t) indexKey {
	return indexKey{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim}
}

// read returns index.json decoded, from the cache when the file has not
// changed since it was decoded. The result is shared: callers copy what
// they hand out (cloneDescriptor).
func (c *indexCache) read(s *Store) (ocispec.Index, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(s); err != nil {
		return ocispec.Index{}, err
	}
	if c.idx == nil {
		idx, err := decodeIndex(s, c.raw)
		if err != nil {
			return ocispec.Index{}, fmt.Errorf("read %s: %w", s.fs.Join(indexFile), err)
		}
		c.idx = &idx
	}
	return *c.idx, nil
}

// check reads index.json (if it changed) and checks what the document is,
// without decoding its entries.
func (c *indexCache) check(s *Store) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh(s)
}

// lookup finds the first entry named name, decoding only the entries that
// may be it: those whose bytes hold the name as a JSON string.
func (c *indexCache) lookup(s *Store, name string) (ocispec.Descriptor, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(s); err != nil {
		return ocispec.Descriptor{}, false, err
	}
	if c.idx != nil {
		for _, d := range c.idx.Manifests {
			if d.Annotations[ocispec.AnnotationRefName] == name {
				return d, true, nil
			}
		}
		return ocispec.Descriptor{}, false, nil
	}
	quoted, err := json.Marshal(name)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	escaped := bytes.ContainsRune(quoted, '\\')
	for i, raw := range c.raw.manifests {
		// A writer that escapes what need not be (a "\/") defeats the
		// quick test: such an entry is decoded whatever it holds.
		if !bytes.Contains(raw, quoted) && !escaped && !bytes.ContainsRune(raw, '\\') {
			continue
		}
		d, ok := c.decoded[i]
		if !ok {
			if err := json.Unmarshal(raw, &d); err != nil {
				return ocispec.Descriptor{}, false, fmt.Errorf("read %s: entry %d: %v: %w", s.fs.Join(indexFile), i+1, err, errdefs.ErrInvalidArgument)
			}
			c.decoded[i] = d
		}
		if d.Annotations[ocispec.AnnotationRefName] == name {
			return d, true, nil
		}
	}
	return ocispec.Descriptor{}, false, nil
}

func (c *indexCache) refresh(s *Store) error {
	p := s.fs.Join(indexFile)
	st, err := s.fs.Lstat(indexFile)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if c.raw != nil && keyOf(st) == c.key {
		return nil
	}
	b, err := s.readSmall(indexFile, MaxIndexSize)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	raw, err := splitIndex(b)
	if err == nil {
		err = checkIndexHeader(raw)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	// The stat before the read names the version read, or an older one:
	// a change in between is seen by the next read, never hidden.
	c.key, c.raw, c.idx, c.decoded = keyOf(st), raw, nil, map[int]ocispec.Descriptor{}
	return nil
}

// cloneDescriptor copies what a caller could change in a cached entry.
func cloneDescriptor(d ocispec.Descriptor) ocispec.Descriptor {
	d.Annotations = maps.Clone(d.Annotations)
	if d.Platform != nil {
		p := *d.Platform
		d.Platform = &p
	}
	d.URLs = append([]string(nil), d.URLs...)
	return d
}

// IndexSize is the size in bytes of index.json as last read: a measure of
// how many names the store holds, for a caller sizing its memory.
func (s *Store) IndexSize() int64 {
	s.index.mu.Lock()
	defer s.index.mu.Unlock()
	return s.index.key.size
}
