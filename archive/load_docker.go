package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
)

// mediaTypeDockerLayerTar is an uncompressed Docker layer, as docker save
// writes layers.
const mediaTypeDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"

// dockerImages turns each manifest.json entry into a stored image: its
// config, its layers checked against the config's diffIDs, and a manifest
// imagec writes for it, since a docker-archive carries none.
func (l *loader) dockerImages(ctx context.Context) ([]pendingImage, error) {
	var entries []dockerManifestEntry
	if err := json.Unmarshal(l.meta[dockerManifestFile], &entries); err != nil {
		return nil, fmt.Errorf("parsing manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	out := make([]pendingImage, 0, len(entries))
	for i, e := range entries {
		img, err := l.dockerImage(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("image %d of manifest.json (config %s): %w", i+1, e.Config, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func (l *loader) dockerImage(ctx context.Context, e dockerManifestEntry) (pendingImage, error) {
	names, err := repoTagNames(e.RepoTags)
	if err != nil {
		return pendingImage{}, err
	}
	cf, err := l.resolve(e.Config)
	if err != nil {
		return pendingImage{}, err
	}
	raw, err := l.readSmall(ctx, cf)
	if err != nil {
		return pendingImage{}, err
	}
	// The image ID is the sha256 of the config, whatever the file is called;
	// a file named after a digest must carry that digest.
	id := digest.FromBytes(raw)
	if named, ok := digestInName(cf.name); ok && named != id.Encoded() {
		return pendingImage{}, fmt.Errorf("config %s hashes to %s: %w", cf.name, id, errdefs.ErrDigestMismatch)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return pendingImage{}, fmt.Errorf("parsing config %s: %v: %w", cf.name, err, errdefs.ErrInvalidArgument)
	}
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return pendingImage{}, fmt.Errorf("config %s has rootfs type %q with %d diffIDs for %d layers: %w",
			cf.name, cfg.RootFS.Type, len(cfg.RootFS.DiffIDs), len(e.Layers), errdefs.ErrInvalidArgument)
	}

	files := make([]*archiveFile, len(e.Layers))
	oci := false
	for i, p := range e.Layers {
		f, err := l.resolve(p)
		if err != nil {
			return pendingImage{}, err
		}
		if f.diffErr != nil {
			return pendingImage{}, fmt.Errorf("layer %s: %w", p, f.diffErr)
		}
		if want := cfg.RootFS.DiffIDs[i]; f.diffID != want {
			return pendingImage{}, fmt.Errorf("layer %s: uncompressed content hashes to %s, the config's diffID is %s: %w",
				p, f.diffID, want, errdefs.ErrDigestMismatch)
		}
		// Docker schema 2 has no zstd layer type: such an image becomes an
		// OCI image.
		oci = oci || f.compression == compress.Zstd
		files[i] = f
	}

	layers := make([]ocispec.Descriptor, len(files))
	for i, f := range files {
		if err := l.commit(ctx, f); err != nil {
			return pendingImage{}, err
		}
		layers[i] = layerDescriptor(f, oci, e.LayerSources[cfg.RootFS.DiffIDs[i]])
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: manifest.MediaTypeDockerManifest,
		Config:    ocispec.Descriptor{MediaType: manifest.MediaTypeDockerConfig, Digest: id, Size: int64(len(raw))},
		Layers:    layers,
	}
	if oci {
		m.MediaType, m.Config.MediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
	}
	if err := l.st.WriteBlob(ctx, m.Config, raw); err != nil {
		return pendingImage{}, fmt.Errorf("storing config %s: %w", id, err)
	}
	entry, err := l.storeManifest(ctx, m, &cfg)
	if err != nil {
		return pendingImage{}, err
	}
	return pendingImage{names: names, id: id, entry: entry}, nil
}

// layerDescriptor describes a verified layer file. A foreign layer keeps its
// media type and URLs from LayerSources when they describe this very file.
func layerDescriptor(f *archiveFile, oci bool, source ocispec.Descriptor) ocispec.Descriptor {
	d := ocispec.Descriptor{Digest: f.digest, Size: f.size}
	switch {
	case oci && f.compression == compress.Gzip:
		d.MediaType = ocispec.MediaTypeImageLayerGzip
	case oci && f.compression == compress.Zstd:
		d.MediaType = ocispec.MediaTypeImageLayerZstd
	case oci:
		d.MediaType = ocispec.MediaTypeImageLayer
	case f.compression == compress.Gzip:
		d.MediaType = manifest.MediaTypeDockerLayer
	default:
		d.MediaType = mediaTypeDockerLayerTar
	}
	if !oci && source.Digest == f.digest && manifest.IsForeign(source.MediaType) {
		if c, err := compress.ForMediaType(source.MediaType); err == nil && c == f.compression {
			d.MediaType, d.URLs = source.MediaType, source.URLs
		}
	}
	return d
}

// storeManifest stores the manifest written for an archive image and
// returns the index.json entry that names it: an OCI manifest directly, a
// Docker one through an OCI index, as a pull records them.
func (l *loader) storeManifest(ctx context.Context, m ocispec.Manifest, cfg *ocispec.Image) (ocispec.Descriptor, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encoding the manifest: %w", err)
	}
	desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}
	if err := l.st.WriteBlob(ctx, desc, body); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("storing manifest %s: %w", desc.Digest, err)
	}
	if m.MediaType == ocispec.MediaTypeImageManifest {
		return desc, nil
	}
	child := desc
	child.Platform = image.PlatformOf(cfg)
	return l.wrap(ctx, desc.Digest, []ocispec.Descriptor{child})
}

// wrap stores the OCI index through which a Docker-typed document (source:
// a manifest or a manifest list) is named, as a pull does, and returns its
// index.json entry.
func (l *loader) wrap(ctx context.Context, source digest.Digest, children []ocispec.Descriptor) (ocispec.Descriptor, error) {
	body, entry, err := graph.WrapIndex(source, children)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("wrapping %s in an index: %w", source, err)
	}
	desc := entry
	desc.Annotations = nil
	if err := l.st.WriteBlob(ctx, desc, body); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("storing the index of %s: %w", source, err)
	}
	return entry, nil
}

// repoTagNames normalizes the RepoTags of a manifest.json entry ("alpine:3",
// or already full) to the names the store records.
func repoTagNames(tags []string) ([]string, error) {
	var names []string
	for _, t := range tags {
		ref, err := reference.Parse(t)
		if err != nil {
			return nil, fmt.Errorf("RepoTags: %w", err)
		}
		if ref.Digest() != "" {
			return nil, fmt.Errorf("RepoTags entry %q is not a tag: %w", t, errdefs.ErrInvalidArgument)
		}
		if name := ref.String(); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, nil
}

// digestInName returns the hex digest a file name claims: blobs/sha256/<hex>
// or <hex>.json, as docker save wrote configs before version 25.
func digestInName(name string) (string, bool) {
	base := strings.TrimSuffix(path.Base(name), ".json")
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		return "", false
	}
	return base, true
}
