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

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/safefs"
	"github.com/imagec/imagec/manifest"
)

// dirName is the layer area inside the store's private directory.
const dirName = "layers"

// Store is the layer area of a blob store: <root>/.imagec/layers/<chain id>/
// holding diff/ (the layer's files), record (what diff/ held when it was
// made; see record.go) and parent (the parent's chain ID).
type Store struct {
	blobs *local.Store
	dir   string
}

// Open returns the layer area of st, creating it if needed.
// The layer area must be a real directory: unpack builds trees in it and gc
// removes what it finds there, so a symlink planted in its place (pointing
// anywhere on the machine) would turn both loose outside the store.
func Open(st *local.Store) (*Store, error) {
	rel := ".imagec/" + dirName
	if err := safefs.New(st.Root()).MkdirAll(rel, 0o700); err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	return &Store{blobs: st, dir: filepath.Join(st.Root(), ".imagec", dirName)}, nil
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

// LiveChains is the set of chain IDs of every image named in the store,
// found by the same walk garbage collection marks blobs by.
func LiveChains(ctx context.Context, st *local.Store) (map[digest.Digest]bool, error) {
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
