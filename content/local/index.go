package local

import (
	"bytes"
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
	out := make([]ocispec.Descriptor, len(idx.Manifests))
	for i, d := range idx.Manifests {
		out[i] = cloneDescriptor(d)
	}
	return out, nil
}

// Image returns the index.json entry named name (its ref.name annotation),
// or an error wrapping errdefs.ErrNotFound.
func (s *Store) Image(ctx context.Context, name string) (ocispec.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return ocispec.Descriptor{}, err
	}
	d, ok, err := s.index.lookup(s, name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", name, errdefs.ErrNotFound)
	}
	return cloneDescriptor(d), nil
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
		if idx.Manifests, err = fn(append([]ocispec.Descriptor(nil), idx.Manifests...)); err != nil { // a copy: the cache keeps the original
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
	return s.index.read(s)
}

// checkIndexHeader checks the members that say what the document is. An
// index.json another tool wrote may carry members imagec does not model;
// they are not preserved on rewrite.
func checkIndexHeader(r *rawIndex) error {
	var version int
	sv, _ := r.member("schemaVersion")
	if err := json.Unmarshal(sv, &version); err != nil || version != 2 {
		return fmt.Errorf("index schemaVersion %s, want 2: %w", sv, errdefs.ErrUnsupported)
	}
	// mediaType is optional in older layouts; when present it must say index.
	if mt, ok := r.member("mediaType"); ok {
		var s string
		if err := json.Unmarshal(mt, &s); err != nil || (s != "" && s != ocispec.MediaTypeImageIndex) {
			return fmt.Errorf("index mediaType %s: %w", mt, errdefs.ErrUnsupported)
		}
	}
	if m, ok := r.member("manifests"); ok && r.manifests == nil {
		if v := string(bytes.TrimSpace(m)); v != "[]" && v != "null" {
			return fmt.Errorf("index manifests is not an array: %w", errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// parseIndex decodes an index.json document whole.
func parseIndex(b []byte) (ocispec.Index, error) {
	r, err := splitIndex(b)
	if err == nil {
		err = checkIndexHeader(r)
	}
	if err != nil {
		return ocispec.Index{}, err
	}
	return decodeIndex(nil, r)
}

// decodeIndex decodes a split index.json whole (s only names it in errors).
func decodeIndex(s *Store, r *rawIndex) (ocispec.Index, error) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: make([]ocispec.Descriptor, len(r.manifests))}
	idx.SchemaVersion = 2
	for i, raw := range r.manifests {
		if err := json.Unmarshal(raw, &idx.Manifests[i]); err != nil {
			return ocispec.Index{}, fmt.Errorf("index.json entry %d: %v: %w", i+1, err, errdefs.ErrInvalidArgument)
		}
	}
	if a, ok := r.member("annotations"); ok {
		if err := json.Unmarshal(a, &idx.Annotations); err != nil {
			return ocispec.Index{}, fmt.Errorf("index.json annotations: %v: %w", err, errdefs.ErrInvalidArgument)
		}
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
