package local

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
)

// Images returns the entries of index.json in file order. Entries written by
// other tools may lack the ref.name annotation; they are returned as they are.
func (s *Store) Images(ctx context.Context) ([]ocispec.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// No lock: index.json is only ever replaced by rename, so a reader sees
	// either the old or the new file, never a mix.
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	return idx.Manifests, nil
}

// Image returns the index.json entry named name (its ref.name annotation),
// or an error wrapping errdefs.ErrNotFound.
func (s *Store) Image(ctx context.Context, name string) (ocispec.Descriptor, error) {
	all, err := s.Images(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, d := range all {
		if d.Annotations[ocispec.AnnotationRefName] == name {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", name, errdefs.ErrNotFound)
}

// SetImage records desc under name, replacing any entry already named so
// (in place, keeping the order of the others). The blob desc points at must
// be in the store with desc's size (errdefs.ErrNotFound otherwise), and a
// name that pins a digest must pin the repo digest of desc's content
// (graph.CheckName; errdefs.ErrDigestMismatch otherwise). desc's annotations are kept
// and its ref.name annotation set to name; desc itself is not modified. The
// read-modify-write of index.json runs under an exclusive lock on
// .imagec/index.lock, so concurrent updates from any process are not lost.
func (s *Store) SetImage(ctx context.Context, name string, desc ocispec.Descriptor) error {
	if name == "" {
		return fmt.Errorf("set image: empty name: %w", errdefs.ErrInvalidArgument)
	}
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("set image %s: digest %q: %v: %w", name, desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if desc.MediaType == "" || desc.Size < 0 {
		return fmt.Errorf("set image %s: descriptor %s needs a media type and a size: %w",
			name, desc.Digest, errdefs.ErrInvalidArgument)
	}
	// A name may only point at content the store holds: a blob of the
	// size the descriptor states, verified when it was committed.
	if !s.Has(ctx, desc) {
		return fmt.Errorf("set image %s: %s (%d bytes) is not in the store: %w", name, desc.Digest, desc.Size, errdefs.ErrNotFound)
	}
	// ... and a name that pins a digest pins the content's.
	if err := graph.CheckName(ctx, s, name, desc); err != nil {
		return fmt.Errorf("set image: %w", err)
	}
	desc.Annotations = maps.Clone(desc.Annotations)
	if desc.Annotations == nil {
		desc.Annotations = map[string]string{}
	}
	desc.Annotations[ocispec.AnnotationRefName] = name
	return s.updateIndex(ctx, func(m []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		out := m[:0]
		placed := false
		for _, d := range m {
			if d.Annotations[ocispec.AnnotationRefName] != name {
				out = append(out, d)
			} else if !placed {
				// Duplicates (another tool may have written them) collapse
				// into the one new entry.
				out = append(out, desc)
				placed = true
			}
		}
		if !placed {
			out = append(out, desc)
		}
		return out, nil
	})
}

// RemoveImage deletes every index.json entry named name, or returns an error
// wrapping errdefs.ErrNotFound if there is none. Blobs are left in place.
func (s *Store) RemoveImage(ctx context.Context, name string) error {
	return s.updateIndex(ctx, func(m []ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		out := m[:0]
		for _, d := range m {
			if d.Annotations[ocispec.AnnotationRefName] != name {
				out = append(out, d)
			}
		}
		if len(out) == len(m) {
			return nil, fmt.Errorf("remove image %s: %w", name, errdefs.ErrNotFound)
		}
		return out, nil
	})
}

// updateIndex rewrites index.json with fn applied to its entries, under the
// index lock. The new file is fsynced before it is renamed over the old one,
// and the directory after, so a crash leaves either version intact.
func (s *Store) updateIndex(ctx context.Context, fn func([]ocispec.Descriptor) ([]ocispec.Descriptor, error)) error {
	return s.withLock(ctx, indexLock, func() error {
		idx, err := s.readIndex()
		if err != nil {
			return err
		}
		if idx.Manifests, err = fn(idx.Manifests); err != nil {
			return err
		}
		b, err := encodeIndex(idx)
		if err != nil {
			return err
		}
		tmp, err := s.writeTemp(indexFile, b)
		if err != nil {
			return fmt.Errorf("write %s: %w", s.fs.Join(indexFile), err)
		}
		if err := s.fs.Rename(tmp, indexFile); err != nil {
			s.fs.Remove(tmp)
			return fmt.Errorf("write %s: %w", s.fs.Join(indexFile), err)
		}
		return s.fs.SyncDir(".")
	})
}

// MaxIndexSize bounds index.json, which another tool may have written: a
// store of a hundred thousand names stays well below it.
const MaxIndexSize = 64 << 20

func (s *Store) readIndex() (ocispec.Index, error) {
	p := s.fs.Join(indexFile)
	b, err := s.readSmall(indexFile, MaxIndexSize)
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("read %s: %w", p, err)
	}
	idx, err := decodeIndex(b)
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("read %s: %w", p, err)
	}
	return idx, nil
}

// decodeIndex parses an index.json, which another tool may have written.
// Fields the index struct does not model are not preserved on rewrite.
func decodeIndex(b []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("parse index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if idx.SchemaVersion != 2 {
		return ocispec.Index{}, fmt.Errorf("index schemaVersion %d, want 2: %w", idx.SchemaVersion, errdefs.ErrUnsupported)
	}
	// mediaType is optional in older layouts; when present it must say index.
	if idx.MediaType != "" && idx.MediaType != ocispec.MediaTypeImageIndex {
		return ocispec.Index{}, fmt.Errorf("index mediaType %q: %w", idx.MediaType, errdefs.ErrUnsupported)
	}
	return idx, nil
}

func encodeIndex(idx ocispec.Index) ([]byte, error) {
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{} // "manifests" is required: [] not null
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, fmt.Errorf("encode index: %w", err)
	}
	return b, nil
}
