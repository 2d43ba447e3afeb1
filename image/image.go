// Package image reads images back out of the store: which manifest and config
// a name points to, its ID, tags, digests and layers. It is the read side of
// a pull, shared by the CLI and the puller's "is it already here" check.
package image

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
)

// Image is one image as recorded in the store.
type Image struct {
	// Name is the full reference the image is recorded under.
	Name string
	// Entry is the index.json descriptor: an index or a manifest.
	Entry ocispec.Descriptor
	// ManifestDesc is the platform image manifest chosen from Entry.
	ManifestDesc ocispec.Descriptor
	Manifest     ocispec.Manifest
	// ConfigRaw is the config blob byte for byte; Config is it decoded.
	ConfigRaw []byte
	Config    ocispec.Image

	// repo is the verified repo digest (see graph.RepoDigest).
	repo digest.Digest
	// single: the registry served one manifest, not an index.
	single bool
}

// Single reports whether the image was served as one manifest rather than
// chosen from an index: it has no platform to choose, and runs as what it
// is (a pull warns when that is not the platform wanted).
func (img *Image) Single() bool { return img.single }

// ID is the image ID docker shows: the digest of the config.
func (img *Image) ID() digest.Digest { return img.Manifest.Config.Digest }

// RepoDigest is the digest the registry serves the image under, which is what
// "docker images --digests" shows: the index for a multi-platform image. It
// is derived from content the store verified, never from annotations.
func (img *Image) RepoDigest() digest.Digest {
	if img.repo != "" {
		return img.repo
	}
	return img.Entry.Digest
}

// Size is the sum of the compressed blob sizes: config and layers.
func (img *Image) Size() int64 {
	n := img.Manifest.Config.Size
	for _, l := range img.Manifest.Layers {
		n += l.Size
	}
	return n
}

// Load resolves entry (an index.json descriptor) to its image. For an index
// it picks the child manifest for platform whose blobs are in the store; a
// nil platform means the host's. A single manifest (which imagec may have
// wrapped in an index) has no platform to choose and is taken as it is.
//
// A name that pins a digest (repo@sha256:...) must name the image's repo
// digest, as derived from verified content; otherwise Load fails with
// errdefs.ErrDigestMismatch rather than hand out other content under it.
func Load(ctx context.Context, st content.Provider, entry ocispec.Descriptor, platform *ocispec.Platform) (*Image, error) {
	img := &Image{Name: entry.Annotations[ocispec.AnnotationRefName], Entry: entry}
	desc := entry
	var idx *ocispec.Index
	if manifest.IsIndex(entry.MediaType) {
		child, parsed, err := pickChild(ctx, st, entry, platform)
		if err != nil {
			return nil, err
		}
		desc, idx = child, parsed
	}
	if !manifest.IsImage(desc.MediaType) {
		return nil, fmt.Errorf("image %s: manifest %s has media type %q: %w", img.Name, desc.Digest, desc.MediaType, errdefs.ErrUnsupported)
	}
	body, err := st.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: reading manifest: %w", img.Name, err)
	}
	parsed, err := manifest.Parse(desc.MediaType, body)
	if err != nil || parsed.Image == nil {
		return nil, fmt.Errorf("image %s: manifest %s: %w", img.Name, desc.Digest, cmp.Or(err, errdefs.ErrInvalidArgument))
	}
	img.ManifestDesc = desc
	img.Manifest = *parsed.Image
	img.ConfigRaw, err = st.ReadBlob(ctx, img.Manifest.Config.Digest, manifest.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: reading config: %w", img.Name, err)
	}
	if err := json.Unmarshal(img.ConfigRaw, &img.Config); err != nil {
		return nil, fmt.Errorf("image %s: config %s: %v: %w", img.Name, img.Manifest.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	if img.repo, err = graph.RepoDigest(ctx, st, entry); err != nil {
		return nil, fmt.Errorf("image %s: %w", img.Name, err)
	}
	img.single = idx == nil || graph.IsLone(idx)
	if err := checkName(img.Name, img.repo); err != nil {
		return nil, fmt.Errorf("%w (run imagec fsck --repair)", err)
	}
	return img, nil
}

// checkName fails when name pins a digest other than repo.
func checkName(name string, repo digest.Digest) error {
	ref, err := reference.Parse(name)
	if err != nil || ref.Digest() == "" || ref.Digest() == repo {
		return nil
	}
	return fmt.Errorf("image %s: the name pins %s but its content is %s: %w",
		name, ref.Digest(), repo, errdefs.ErrDigestMismatch)
}

// pickChild chooses the manifest of an index that matches platform and whose
// manifest blob the store holds: a pull fetches one platform of an index.
// It returns the index too.
func pickChild(ctx context.Context, st content.Provider, entry ocispec.Descriptor, platform *ocispec.Platform) (ocispec.Descriptor, *ocispec.Index, error) {
	body, err := st.ReadBlob(ctx, entry.Digest, manifest.MaxSize)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("reading index %s: %w", entry.Digest, err)
	}
	parsed, err := manifest.Parse(entry.MediaType, body)
	if err != nil || parsed.Index == nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("index %s: %w", entry.Digest, cmp.Or(err, errdefs.ErrInvalidArgument))
	}
	idx := parsed.Index
	if graph.IsLone(idx) {
		if !st.Has(ctx, idx.Manifests[0]) {
			return ocispec.Descriptor{}, nil, fmt.Errorf("index %s: manifest %s is not in the store: %w", entry.Digest, idx.Manifests[0].Digest, errdefs.ErrNotFound)
		}
		return idx.Manifests[0], idx, nil
	}
	child, err := choose(ctx, st, idx, platform)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("index %s: %w", entry.Digest, err)
	}
	return child, idx, nil
}

// choose picks the present manifest of idx for platform (nil: the host's,
// else any present one, the platform the user pulled explicitly).
func choose(ctx context.Context, st content.Provider, idx *ocispec.Index, platform *ocispec.Platform) (ocispec.Descriptor, error) {
	present := ocispec.Index{Versioned: idx.Versioned, MediaType: idx.MediaType}
	for _, m := range idx.Manifests {
		if st.Has(ctx, m) {
			present.Manifests = append(present.Manifests, m)
		}
	}
	want := manifest.HostPlatform()
	if platform != nil {
		want = *platform
	}
	child, err := manifest.SelectManifest(&present, want)
	if err == nil {
		return child, nil
	}
	if platform == nil {
		// Not the host's platform, but the one the user pulled explicitly.
		for _, m := range present.Manifests {
			if manifest.IsImage(m.MediaType) && m.Platform != nil && m.Platform.OS != "unknown" {
				return m, nil
			}
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no platform manifest in the store: %w", errdefs.ErrNotFound)
}

// Missing lists the blobs of img that are not in the store (absent, or not
// a regular file of the descriptor's size), skipping
// non-distributable layers, which a pull records but does not fetch.
func Missing(ctx context.Context, st content.Provider, img *Image) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, l := range img.Manifest.Layers {
		if manifest.IsForeign(l.MediaType) {
			continue
		}
		if !st.Has(ctx, l) {
			out = append(out, l)
		}
	}
	return out
}

// List loads every image recorded in the store, in index.json order. An
// entry that cannot be loaded is reported in errs rather than hiding the rest.
// Manifests attached to an image (its signatures, SBOMs) are no images of
// their own and are left out.
func List(ctx context.Context, st content.View) (imgs []*Image, errs []error) {
	entries, err := st.Images(ctx)
	if err != nil {
		return nil, []error{err}
	}
	// Names share documents (tags of one image, images of one base): each
	// is read and verified once for the whole listing.
	docs := &readCache{Provider: st, docs: map[digest.Digest][]byte{}}
	loaded := map[digest.Digest]*Image{} // by entry: names of one image load it once
	for _, e := range entries {
		if _, attached := graph.Attached(ctx, docs, e); attached {
			continue // a referrer kept for its subject, not an image
		}
		img, err := loadShared(ctx, docs, e, loaded)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		imgs = append(imgs, img)
	}
	return imgs, errs
}

// loadShared is Load, reusing what an earlier name of the same entry
// loaded: only the name differs, and the name's rule is checked again.
func loadShared(ctx context.Context, st content.Provider, e ocispec.Descriptor, loaded map[digest.Digest]*Image) (*Image, error) {
	if prev, ok := loaded[e.Digest]; ok && prev.Entry.MediaType == e.MediaType && prev.Entry.Size == e.Size {
		img := *prev
		img.Name, img.Entry = e.Annotations[ocispec.AnnotationRefName], e
		if err := checkName(img.Name, img.repo); err != nil {
			return nil, fmt.Errorf("%w (run imagec fsck --repair)", err)
		}
		return &img, nil
	}
	img, err := Load(ctx, st, e, nil)
	if err == nil {
		loaded[e.Digest] = img
	}
	return img, err
}

// readCache remembers the documents (manifests, indexes, configs) a
// listing reads, by digest: what ReadBlob verified once stays verified.
type readCache struct {
	content.Provider
	docs map[digest.Digest][]byte
}

func (c *readCache) ReadBlob(ctx context.Context, d digest.Digest, max int64) ([]byte, error) {
	if b, ok := c.docs[d]; ok && int64(len(b)) <= max {
		return b, nil
	}
	b, err := c.Provider.ReadBlob(ctx, d, max)
	if err == nil {
		c.docs[d] = b
	}
	return b, err
}
