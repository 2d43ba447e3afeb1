// Package layers keeps unpacked image layers in the store, once per chain
// ID, and composes root filesystems from them. Each layer is a directory in
// overlayfs form (its own files, with whiteouts as overlayfs records them),
// so it serves as an overlay lower directory as it is, and images sharing
// base layers share their unpacked directories.
package layers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
)

// AreaName is the directory of the store's private area the layers live
// in (content/local's PrivateDir).
const AreaName = "layers"

// Store is an unpacked-layer area: <dir>/<chain id>/ holding diff/ (the
// layer's files), parent (the parent's chain ID) and record (what the
// layer holds, see record.go). Its layers come from the blobs of a content
// store.
type Store struct {
	blobs content.Source
	dir   string
}

// Open returns the layer area dir, whose layers are unpacked from the blobs
// of st. dir must be a real directory that only imagec writes to (for the
// local store, its PrivateDir(AreaName)): unpack builds trees in it and gc
// removes what it finds there.
func Open(st content.Source, dir string) (*Store, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("layer store: %s is not a directory: %w", dir, errdefs.ErrInvalidArgument)
	}
	return &Store{blobs: st, dir: dir}, nil
}

// AreaStore is a content store with a private area the layer area can
// live in (content/local's Store).
type AreaStore interface {
	content.Source
	PrivateDir(name string) (string, error)
}

// OpenArea returns the layer area of st: its PrivateDir(AreaName), created
// if needed.
func OpenArea(st AreaStore) (*Store, error) {
	dir, err := st.PrivateDir(AreaName)
	if err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	return Open(st, dir)
}

// Path is the directory of the unpacked layer with chainID; its files are
// in Path/diff.
func (s *Store) Path(chainID digest.Digest) string {
	return filepath.Join(s.dir, chainID.Encoded())
}

// Has reports whether the layer with chainID is unpacked, with the record
// it is verified against. A layer directory without one (made by an older
// imagec) is not used: it is unpacked again.
func (s *Store) Has(chainID digest.Digest) bool {
	if chainID.Validate() != nil {
		return false
	}
	fi, err := os.Lstat(filepath.Join(s.Path(chainID), "diff"))
	if err != nil || !fi.IsDir() {
		return false
	}
	fi, err = os.Lstat(filepath.Join(s.Path(chainID), recordName))
	return err == nil && fi.Mode().IsRegular()
}

// layerRef is one layer of an image with what identifies it.
type layerRef struct {
	desc            ocispec.Descriptor
	diffID, chainID digest.Digest
	parent          digest.Digest
}

func refsOf(img *image.Image) ([]layerRef, error) {
	diffIDs := img.Config.RootFS.DiffIDs
	if len(diffIDs) != len(img.Manifest.Layers) {
		return nil, fmt.Errorf("image %s: %d layers but %d diffIDs: %w", img.Name, len(img.Manifest.Layers), len(diffIDs), errdefs.ErrInvalidArgument)
	}
	chain := image.ChainIDs(diffIDs)
	out := make([]layerRef, len(diffIDs))
	for i := range diffIDs {
		out[i] = layerRef{desc: img.Manifest.Layers[i], diffID: diffIDs[i], chainID: chain[i]}
		if i > 0 {
			out[i].parent = chain[i-1]
		}
	}
	return out, nil
}

// Unpacked lists, for each layer of img, whether it is unpacked.
func (s *Store) Unpacked(img *image.Image) []bool {
	out := make([]bool, len(img.Manifest.Layers))
	if len(img.Config.RootFS.DiffIDs) != len(out) {
		return out
	}
	for i, c := range image.ChainIDs(img.Config.RootFS.DiffIDs) {
		out[i] = s.Has(c)
	}
	return out
}

// Sweep removes layer directories whose chain ID no image needs, and
// temporary directories left by interrupted unpacks. Callers hold the
// store's exclusive lock (garbage collection).
func (s *Store) Sweep(ctx context.Context, live map[digest.Digest]bool, dryRun bool) (int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		keep := live[digest.NewDigestFromEncoded(digest.SHA256, name)] && !strings.HasPrefix(name, "tmp-")
		if keep {
			continue
		}
		if dryRun {
			n++
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, name)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Sweeper is the garbage collector's sweep of this layer area: it removes
// the unpacked layers no image named in st uses (gc.WithSweeper).
func (s *Store) Sweeper(st content.Store) gc.Sweeper {
	return func(ctx context.Context, _ map[digest.Digest]bool, dryRun bool) (string, int, error) {
		live, err := LiveChains(ctx, st)
		if err != nil {
			return SweptKind, 0, err
		}
		n, err := s.Sweep(ctx, live, dryRun)
		return SweptKind, n, err
	}
}

// SweptKind is what gc reports the layer area's sweep under.
const SweptKind = "unpacked layers"

// LiveChains is the set of chain IDs of every image named in the store,
// found by the same walk garbage collection marks blobs by.
func LiveChains(ctx context.Context, st content.Store) (map[digest.Digest]bool, error) {
	live := map[digest.Digest]bool{}
	err := gc.ForEachImage(ctx, st, func(m *ocispec.Manifest) error {
		raw, err := st.ReadBlob(ctx, m.Config.Digest, manifest.MaxSize)
		if err != nil {
			return err
		}
		var cfg ocispec.Image
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("config %s: %v: %w", m.Config.Digest, err, errdefs.ErrInvalidArgument)
		}
		for _, c := range image.ChainIDs(cfg.RootFS.DiffIDs) {
			live[c] = true
		}
		return nil
	})
	return live, err
}
