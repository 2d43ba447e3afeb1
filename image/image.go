// Package image reads images back out of the store: which manifest and config
// a name points to, its ID, tags, digests and layers. It is the read side of
// a pull, shared by the CLI and the puller's "is it already here" check.
package image

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/store"
)

// AnnotationSourceDigest records, on an index.json entry, the digest the
// registry knows the image by when it differs from the stored entry: a
// legacy schema 1 image is stored as a converted schema 2 manifest, while
// docker shows (and pins) the schema 1 digest.
const AnnotationSourceDigest = "io.imagec.source.digest"

// AnnotationSourceBlob, on an index imagec wrote around a Docker-typed image,
// names the blob holding the document the registry sent (a manifest list, or
// a signed schema 1 manifest), which no descriptor references otherwise; it
// keeps that blob alive through garbage collection.
const AnnotationSourceBlob = "io.imagec.source.blob"

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
}

// ID is the image ID docker shows: the digest of the config.
func (img *Image) ID() digest.Digest { return img.Manifest.Config.Digest }

// RepoDigest is the digest the registry serves the image under, which is what
// "docker images --digests" shows: the index for a multi-platform image.
func (img *Image) RepoDigest() digest.Digest {
	if d := img.Entry.Annotations[AnnotationSourceDigest]; d != "" {
		return digest.Digest(d)
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
// nil platform means the host's.
func Load(ctx context.Context, st *store.Store, entry ocispec.Descriptor, platform *ocispec.Platform) (*Image, error) {
	img := &Image{Name: entry.Annotations[ocispec.AnnotationRefName], Entry: entry}
	desc := entry
	if manifest.IsIndex(entry.MediaType) {
		child, err := pickChild(ctx, st, entry, platform)
		if err != nil {
			return nil, err
		}
		desc = child
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
		return nil, fmt.Errorf("image %s: manifest %s: %w", img.Name, desc.Digest, firstErr(err, errdefs.ErrInvalidArgument))
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
	return img, nil
}

// pickChild chooses the manifest of an index that matches platform and whose
// manifest blob the store holds: a pull fetches one platform of an index.
func pickChild(ctx context.Context, st *store.Store, entry ocispec.Descriptor, platform *ocispec.Platform) (ocispec.Descriptor, error) {
	body, err := st.ReadBlob(ctx, entry.Digest, manifest.MaxSize)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading index %s: %w", entry.Digest, err)
	}
	parsed, err := manifest.Parse(entry.MediaType, body)
	if err != nil || parsed.Index == nil {
		return ocispec.Descriptor{}, fmt.Errorf("index %s: %w", entry.Digest, firstErr(err, errdefs.ErrInvalidArgument))
	}
	present := ocispec.Index{Versioned: parsed.Index.Versioned, MediaType: parsed.Index.MediaType}
	for _, m := range parsed.Index.Manifests {
		if _, err := st.Info(ctx, m.Digest); err == nil {
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
	return ocispec.Descriptor{}, fmt.Errorf("index %s: no platform manifest in the store: %w", entry.Digest, errdefs.ErrNotFound)
}

// Missing lists the blobs of img that are not in the store, skipping
// non-distributable layers, which a pull records but does not fetch.
func Missing(ctx context.Context, st *store.Store, img *Image) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, l := range img.Manifest.Layers {
		if manifest.IsForeign(l.MediaType) {
			continue
		}
		if _, err := st.Info(ctx, l.Digest); err != nil {
			out = append(out, l)
		}
	}
	return out
}

// List loads every image recorded in the store, in index.json order. An
// entry that cannot be loaded is reported in errs rather than hiding the rest.
func List(ctx context.Context, st *store.Store) (imgs []*Image, errs []error) {
	entries, err := st.Images(ctx)
	if err != nil {
		return nil, []error{err}
	}
	for _, e := range entries {
		img, err := Load(ctx, st, e, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		imgs = append(imgs, img)
	}
	return imgs, errs
}

func firstErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
