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
	var blobs []ocispec.Descriptor
	docs := map[digest.Digest][]byte{}
	seen := map[digest.Digest]bool{}
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
		wk := walker{st: st, docs: docs, seen: seen}
		if err := wk.walk(ctx, entry, 0); err != nil {
			return fmt.Errorf("save %s: %w", name, err)
		}
		blobs = append(blobs, wk.blobs...)
	}
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
	for _, b := range blobs {
		if body, ok := docs[b.Digest]; ok {
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

// maxDepth bounds how deeply indexes may nest below an index.json entry.
const maxDepth = 8

// walker collects the blobs an index.json entry reaches, as garbage
// collection marks them: present index children, configs, layers, and the
// registry's original document an imagec index keeps.
type walker struct {
	st    content.View
	docs  map[digest.Digest][]byte // manifests and indexes read on the way
	seen  map[digest.Digest]bool   // blobs already listed, across images
	blobs []ocispec.Descriptor
	// manifests are the image manifests reached, for checks on their layers.
	manifests []*ocispec.Manifest
}

func (w *walker) add(d ocispec.Descriptor) bool {
	if w.seen[d.Digest] {
		return false
	}
	w.seen[d.Digest] = true
	w.blobs = append(w.blobs, d)
	return true
}

func (w *walker) walk(ctx context.Context, desc ocispec.Descriptor, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("indexes nest deeper than %d at %s: %w", maxDepth, desc.Digest, errdefs.ErrUnsupported)
	}
	if !manifest.IsIndex(desc.MediaType) && !manifest.IsImage(desc.MediaType) {
		return fmt.Errorf("%s has media type %q, not a manifest or index: %w", desc.Digest, desc.MediaType, errdefs.ErrUnsupported)
	}
	if w.seen[desc.Digest] {
		return nil
	}
	body, err := w.st.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
	if err != nil {
		return err
	}
	if int64(len(body)) != desc.Size {
		return sizeMismatch(desc, int64(len(body)))
	}
	parsed, err := manifest.Parse(desc.MediaType, body)
	if err != nil {
		return fmt.Errorf("%s: %w", desc.Digest, err)
	}
	w.docs[desc.Digest] = body
	w.add(ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: int64(len(body))})
	switch {
	case parsed.Index != nil:
		for _, child := range parsed.Index.Manifests {
			if _, err := w.st.Info(ctx, child.Digest); errors.Is(err, errdefs.ErrNotFound) {
				continue // a platform that was not pulled
			}
			if err := w.walk(ctx, child, depth+1); err != nil {
				return err
			}
		}
		if src := parsed.Index.Annotations[graph.AnnotationSourceBlob]; src != "" {
			if err := w.sourceBlob(ctx, src); err != nil {
				return err
			}
		}
	case parsed.Image != nil:
		w.manifests = append(w.manifests, parsed.Image)
		if err := w.present(ctx, parsed.Image.Config); err != nil {
			return fmt.Errorf("config of manifest %s: %w", desc.Digest, err)
		}
		w.add(parsed.Image.Config)
		for _, l := range parsed.Image.Layers {
			err := w.present(ctx, l)
			if errors.Is(err, errdefs.ErrNotFound) && manifest.IsForeign(l.MediaType) {
				continue // recorded but not downloaded, as in the store
			}
			if err != nil {
				return fmt.Errorf("layer %s of manifest %s: %w", l.Digest, desc.Digest, err)
			}
			w.add(l)
		}
	}
	return nil
}

// present checks that the blob d describes is in the store with d's size.
func (w *walker) present(ctx context.Context, d ocispec.Descriptor) error {
	size, err := w.st.Info(ctx, d.Digest)
	if err != nil {
		return err
	}
	if size != d.Size {
		return sizeMismatch(d, size)
	}
	return nil
}

func sizeMismatch(d ocispec.Descriptor, have int64) error {
	return fmt.Errorf("%s is %d bytes but its descriptor says %d: %w", d.Digest, have, d.Size, errdefs.ErrSizeMismatch)
}

// sourceBlob adds the original document named by an imagec index, when the
// store has it, so the archive loads back into the same store state.
func (w *walker) sourceBlob(ctx context.Context, src string) error {
	d, err := digest.Parse(src)
	if err != nil || w.seen[d] {
		return nil
	}
	size, err := w.st.Info(ctx, d)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	w.add(ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: size})
	return nil
}
