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
	"golang.org/x/sync/errgroup"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/store"
	"github.com/imagec/imagec/unpack"
)

// dirName is the layer area inside the store's private directory.
const dirName = "layers"

// Store is the layer area of a blob store: <root>/.imagec/layers/<chain id>/
// holding diff/ (the layer's files) and parent (the parent's chain ID).
type Store struct {
	blobs *store.Store
	dir   string
}

// Open returns the layer area of st, creating it if needed.
func Open(st *store.Store) (*Store, error) {
	dir := filepath.Join(st.Root(), ".imagec", dirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	return &Store{blobs: st, dir: dir}, nil
}

// ChainIDs computes the chain ID of each layer from the diffIDs, bottom
// first: the first is its diffID, each next one sha256("<parent> <diffID>").
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

// Path is the directory of the unpacked layer with chainID; its files are
// in Path/diff.
func (s *Store) Path(chainID digest.Digest) string {
	return filepath.Join(s.dir, chainID.Encoded())
}

// Has reports whether the layer with chainID is unpacked and complete.
func (s *Store) Has(chainID digest.Digest) bool {
	if chainID.Validate() != nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(s.Path(chainID), "diff"))
	return err == nil && fi.IsDir()
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
	chain := ChainIDs(diffIDs)
	out := make([]layerRef, len(diffIDs))
	for i := range diffIDs {
		out[i] = layerRef{desc: img.Manifest.Layers[i], diffID: diffIDs[i], chainID: chain[i]}
		if i > 0 {
			out[i].parent = chain[i-1]
		}
	}
	return out, nil
}

// Ensure unpacks every layer of img that is not unpacked yet, up to
// parallel at once (layers in overlayfs form do not depend on each other),
// verifying each against its diffID. A foreign layer that is not in the
// store cannot be unpacked and fails.
func (s *Store) Ensure(ctx context.Context, img *image.Image, parallel int) error {
	refs, err := refsOf(img)
	if err != nil {
		return err
	}
	release, err := s.blobs.Lease(ctx) // keep garbage collection off our work
	if err != nil {
		return err
	}
	defer release()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, parallel))
	for _, r := range refs {
		if s.Has(r.chainID) {
			continue
		}
		g.Go(func() error { return s.unpackLayer(gctx, r) })
	}
	return g.Wait()
}

// unpackLayer extracts one layer into a temporary directory of the layer
// area and renames it into place once complete and synced: a layer
// directory that exists is whole.
func (s *Store) unpackLayer(ctx context.Context, r layerRef) error {
	f, err := s.blobs.Open(ctx, r.desc.Digest)
	if err != nil {
		return fmt.Errorf("layer %s: %w", r.desc.Digest, err)
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(s.dir, "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return err
	}
	if _, err := unpack.Layer(ctx, diff, f, r.desc.MediaType, r.diffID, unpack.Options{Whiteouts: unpack.WhiteoutOverlay}); err != nil {
		return fmt.Errorf("unpacking layer %s: %w", r.desc.Digest, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "parent"), []byte(r.parent.String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.Path(r.chainID)); err != nil {
		if s.Has(r.chainID) {
			return nil // another unpack of the same layer finished first
		}
		return fmt.Errorf("layer %s: %w", r.chainID, err)
	}
	return nil
}

// Unpacked lists, for each layer of img, whether it is unpacked.
func (s *Store) Unpacked(img *image.Image) []bool {
	out := make([]bool, len(img.Manifest.Layers))
	if len(img.Config.RootFS.DiffIDs) != len(out) {
		return out
	}
	for i, c := range ChainIDs(img.Config.RootFS.DiffIDs) {
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
func LiveChains(ctx context.Context, st *store.Store) (map[digest.Digest]bool, error) {
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
		for _, c := range ChainIDs(cfg.RootFS.DiffIDs) {
			live[c] = true
		}
		return nil
	})
	return live, err
}
