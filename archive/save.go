package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
)

// dockerManifestEntry is one image of a docker-archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
	// LayerSources describes foreign layers by diffID, so that a loader
	// can record where the layer came from.
	LayerSources map[digest.Digest]ocispec.Descriptor `json:",omitempty"`
}

// Save writes the images recorded under names (full normalized names as in
// the store, e.g. "docker.io/library/alpine:latest") to w as a tar archive
// in format. A blob shared by several images is written once. Everything
// the archive needs is checked to be in the store before the first byte is
// written, and every blob is verified against its digest as it is copied.
// Garbage collection waits while Save runs.
func Save(ctx context.Context, st content.Source, w io.Writer, format Format, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("save: no image named: %w", errdefs.ErrInvalidArgument)
	}
	release, err := st.Lease(ctx)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	defer release()
	switch format {
	case FormatDocker:
		return saveDocker(ctx, st, w, names)
	case FormatOCI:
		return saveOCI(ctx, st, w, names)
	}
	return fmt.Errorf("save: unknown format %q: %w", format, errdefs.ErrInvalidArgument)
}

// dockerImage is one manifest.json entry in the making.
type dockerImage struct {
	img   *image.Image
	entry dockerManifestEntry
}

// saveDocker writes a docker-archive. Names of the same platform manifest
// share one manifest.json entry, as docker save groups tags by image.
func saveDocker(ctx context.Context, st content.View, w io.Writer, names []string) error {
	var images []*dockerImage
	byManifest := map[digest.Digest]*dockerImage{}
	repositories := map[string]map[string]string{}
	for _, name := range names {
		entry, err := st.Image(ctx, name)
		if err != nil {
			return fmt.Errorf("save %s: %w", name, err)
		}
		img, err := image.Load(ctx, st, entry, nil)
		if err != nil {
			return fmt.Errorf("save %s: %w", name, err)
		}
		di := byManifest[img.ManifestDesc.Digest]
		if di == nil {
			if di, err = newDockerImage(ctx, st, img); err != nil {
				return fmt.Errorf("save %s: %w", name, err)
			}
			byManifest[img.ManifestDesc.Digest] = di
			images = append(images, di)
		}
		ref, err := reference.Parse(name)
		if err != nil || ref.Tag() == "" || ref.Digest() != "" {
			continue // a digest reference is no tag: docker saves such images untagged
		}
		tag := ref.Familiar()
		if !slices.Contains(di.entry.RepoTags, tag) {
			di.entry.RepoTags = append(di.entry.RepoTags, tag)
		}
		if layers := img.Manifest.Layers; len(layers) > 0 {
			if repositories[ref.FamiliarName()] == nil {
				repositories[ref.FamiliarName()] = map[string]string{}
			}
			// docker 25 records the file name of the top layer here; only
			// loaders of pre-1.10 archives (which lack manifest.json) read it.
			repositories[ref.FamiliarName()][ref.Tag()] = layers[len(layers)-1].Digest.Encoded()
		}
	}

	list := make([]dockerManifestEntry, len(images))
	for i, di := range images {
		list[i] = di.entry
	}
	mj, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("save: encoding manifest.json: %w", err)
	}
	tw := newTarWriter(w)
	// The metadata goes first so a streaming reader knows what follows.
	if err := tw.file(dockerManifestFile, mj); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if len(repositories) > 0 {
		rj, err := json.Marshal(repositories)
		if err != nil {
			return fmt.Errorf("save: encoding repositories: %w", err)
		}
		if err := tw.file(repositoriesFile, rj); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	for _, di := range images {
		for _, d := range append([]ocispec.Descriptor{di.img.Manifest.Config}, di.img.Manifest.Layers...) {
			if err := tw.blob(ctx, st, d); err != nil {
				return fmt.Errorf("save %s: %w", di.img.Name, err)
			}
		}
	}
	if err := tw.close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// newDockerImage describes img for manifest.json and checks that the store
// holds every blob the entry points at: a docker-archive carries every
// layer, foreign ones included.
func newDockerImage(ctx context.Context, st content.View, img *image.Image) (*dockerImage, error) {
	m := img.Manifest
	diffIDs := img.Config.RootFS.DiffIDs
	if len(diffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s lists %d layers but its config %d diffIDs: %w",
			img.ManifestDesc.Digest, len(m.Layers), len(diffIDs), errdefs.ErrInvalidArgument)
	}
	di := &dockerImage{img: img, entry: dockerManifestEntry{
		Config: blobPath(string(m.Config.Digest.Algorithm()), m.Config.Digest.Encoded()),
		Layers: []string{},
	}}
	for i, l := range m.Layers {
		if _, err := st.Info(ctx, l.Digest); err != nil {
			if manifest.IsForeign(l.MediaType) && errors.Is(err, errdefs.ErrNotFound) {
				return nil, fmt.Errorf("foreign layer %s was not downloaded (pull with --include-foreign-layers): %w", l.Digest, err)
			}
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if manifest.IsForeign(l.MediaType) {
			if di.entry.LayerSources == nil {
				di.entry.LayerSources = map[digest.Digest]ocispec.Descriptor{}
			}
			di.entry.LayerSources[diffIDs[i]] = l
		}
		di.entry.Layers = append(di.entry.Layers, blobPath(string(l.Digest.Algorithm()), l.Digest.Encoded()))
	}
	return di, nil
}

// saveOCI writes an OCI image layout: the store's index.json entries of
// names, and every blob they reach that the store holds.
func saveOCI(ctx context.Context, st content.View, w io.Writer, names []string) error {
	var entries []ocispec.Descriptor
	c := newCollector(st)
	named := map[string]bool{}
	for _, name := range names {
		if named[name] {
			continue
		}
		named[name] = true
		entry, err := st.Image(ctx, name)
		if err != nil {
			return fmt.Errorf("save %s: %w", name, err)
		}
		entries = append(entries, entry)
		if err := c.collect(ctx, entry); err != nil {
			return fmt.Errorf("save %s: %w", name, err)
		}
	}
	attached, err := c.referrers(ctx, st)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	entries = append(entries, attached...)
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: entries,
	})
	if err != nil {
		return fmt.Errorf("save: encoding index.json: %w", err)
	}
	tw := newTarWriter(w)
	if err := tw.file(ociLayoutFile, layout); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := tw.file(ociIndexFile, index); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	for _, b := range c.blobs {
		if body, ok := c.docs[b.Digest]; ok {
			// Already read and verified while walking.
			if err := tw.file(blobPath(string(b.Digest.Algorithm()), b.Digest.Encoded()), body); err != nil {
				return fmt.Errorf("save: %w", err)
			}
			continue
		}
		if err := tw.blob(ctx, st, b); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	if err := tw.close(); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// collector gathers the blobs index.json entries reach, as garbage
// collection marks them: present index children, configs, layers, and the
// registry's original document an imagec index keeps. Everything an image
// needs must be present with its descriptor's size; what a pull may leave
// out (other platforms, foreign layers) may be absent.
type collector struct {
	w     *graph.Walker
	docs  map[digest.Digest][]byte // documents read on the way, verified
	blobs []ocispec.Descriptor
	// manifests are the image manifests reached, for checks on their layers.
	manifests []*ocispec.Manifest
}

func newCollector(st content.Provider) *collector {
	return &collector{w: graph.NewWalker(st), docs: map[digest.Digest][]byte{}}
}

// collect walks entry, adding what it reaches (and was not reached
// before) to c.blobs.
func (c *collector) collect(ctx context.Context, entry ocispec.Descriptor) error {
	if !manifest.IsIndex(entry.MediaType) && !manifest.IsImage(entry.MediaType) {
		return fmt.Errorf("%s has media type %q, not a manifest or index: %w", entry.Digest, entry.MediaType, errdefs.ErrUnsupported)
	}
	return c.w.Walk(ctx, entry, func(ctx context.Context, n graph.Node) (bool, error) {
		switch {
		case n.Err != nil:
			return false, n.Err
		case n.Stored >= 0 && !n.Present():
			return false, sizeMismatch(n.Desc, n.Stored)
		case !n.Present() && n.Optional():
			return false, nil // not pulled, as in the store
		case !n.Present() && n.Parent == "":
			return false, fmt.Errorf("%s %s: %w", n.Role, n.Desc.Digest, errdefs.ErrNotFound)
		case !n.Present():
			return false, fmt.Errorf("%s %s of %s: %w", n.Role, n.Desc.Digest, n.Parent, errdefs.ErrNotFound)
		}
		d := ocispec.Descriptor{MediaType: n.Desc.MediaType, Digest: n.Desc.Digest, Size: n.Stored}
		if d.MediaType == "" {
			d.MediaType = "application/octet-stream"
		}
		c.blobs = append(c.blobs, d)
		if n.Body != nil {
			c.docs[n.Desc.Digest] = n.Body
		}
		if n.Doc != nil && n.Doc.Image != nil {
			c.manifests = append(c.manifests, n.Doc.Image)
		}
		return true, nil
	})
}

// referrers collects the stored referrers of every document collected so
// far (signatures, SBOMs of the images and of their manifests), and
// theirs in turn, within graph's default bounds. They go into index.json
// as entries without a name, as the store keeps them and as other OCI
// layout tools look for them; a load attaches them again.
func (c *collector) referrers(ctx context.Context, st content.View) ([]ocispec.Descriptor, error) {
	index, err := graph.ReferrerIndex(ctx, st)
	if err != nil || len(index) == 0 {
		return nil, err
	}
	var roots []digest.Digest
	for _, b := range c.blobs {
		if _, doc := c.docs[b.Digest]; doc {
			roots = append(roots, b.Digest)
		}
	}
	list := func(_ context.Context, s digest.Digest) ([]ocispec.Descriptor, error) { return index[s], nil }
	found, _, err := graph.WalkReferrers(ctx, list, roots, graph.DefaultReferrerDepth, graph.DefaultMaxReferrers)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, f := range found {
		if _, done := c.docs[f.Desc.Digest]; done {
			continue // saved by a name of its own
		}
		entry := ocispec.Descriptor{MediaType: f.Desc.MediaType, Digest: f.Desc.Digest, Size: f.Desc.Size, ArtifactType: f.Desc.ArtifactType}
		if err := c.collect(ctx, entry); err != nil {
			return nil, fmt.Errorf("referrer %s of %s: %w", f.Desc.Digest, f.Subject, err)
		}
		out = append(out, entry)
	}
	return out, nil
}

func sizeMismatch(d ocispec.Descriptor, have int64) error {
	return fmt.Errorf("%s is %d bytes but its descriptor says %d: %w", d.Digest, have, d.Size, errdefs.ErrSizeMismatch)
}
