package testregistry

import (
	"encoding/json"
	"fmt"

	"github.com/imagec/imagec/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker media types (image manifest v2, schema 2). The OCI ones come from
// image-spec.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// Compression is how fixture layers are encoded.
type Compression int

const (
	Gzip Compression = iota
	Zstd
	Uncompressed
)

// Format selects the media types of a fixture.
type Format int

const (
	// Docker is image manifest v2 schema 2 with Docker media types.
	Docker Format = iota
	// OCI is an OCI image manifest with OCI media types.
	OCI
)

// Layer is one fixture layer blob.
type Layer struct {
	MediaType string
	// Data is the blob as stored in the registry (compressed).
	Data []byte
	// Digest and Size describe Data; DiffID is the digest of the
	// uncompressed tar.
	Digest, DiffID digest.Digest
	Size           int64
	// URLs is set only for foreign layers, whose blob is not pushed.
	URLs []string
}

// Image is a complete fixture image: every blob and the manifest, with
// digests precomputed so tests can compare against them.
type Image struct {
	Format   Format
	Platform ocispec.Platform
	// Config is the config blob, ConfigDesc its descriptor.
	Config     []byte
	ConfigDesc ocispec.Descriptor
	// Layers are bottom first.
	Layers []Layer
	// Manifest is the manifest body; ManifestDesc has its digest, size,
	// media type and the platform.
	Manifest     []byte
	ManifestDesc ocispec.Descriptor
}

// NewImage builds a deterministic image from seed: layers tar layers each
// holding directories, a file every layer overwrites, regular files of
// seeded pseudo-random bytes totalling about layerSize, and a symlink; a
// config with the platform, rootfs.diff_ids and one history entry per
// layer; and the manifest. The same arguments always give the same digests.
func NewImage(seed int64, layers int, layerSize int, f Format, c Compression, p ocispec.Platform) (*Image, error) {
	if layers < 0 || layerSize < 0 {
		return nil, fmt.Errorf("fixture image: %d layers of %d bytes: %w", layers, layerSize, errdefs.ErrInvalidArgument)
	}
	mt, err := layerMediaType(f, c)
	if err != nil {
		return nil, err
	}
	img := &Image{Format: f, Platform: p}
	for i := range layers {
		raw, err := layerTar(seed, i, layerSize)
		if err != nil {
			return nil, fmt.Errorf("fixture image seed %d layer %d: %w", seed, i, err)
		}
		l, err := newLayer(mt, c, raw)
		if err != nil {
			return nil, fmt.Errorf("fixture image seed %d layer %d: %w", seed, i, err)
		}
		img.Layers = append(img.Layers, l)
	}
	if err := img.finish(seed); err != nil {
		return nil, err
	}
	return img, nil
}

// ForeignLayerImage builds a Docker image of layers gzip layers (as
// NewImage) topped by a foreign layer: media type
// MediaTypeDockerForeignLayer with a URL on an unreachable loopback port.
// Push does not upload the foreign blob, as docker does not; its Data is
// kept so a test can serve it.
func ForeignLayerImage(seed int64, layers int, layerSize int, p ocispec.Platform) (*Image, error) {
	// Port 9 (discard) is closed on test machines: fetching must fail fast.
	return ForeignLayerImageAt(seed, layers, layerSize, p, "http://127.0.0.1:9/foreign/")
}

// ForeignLayerImageAt is ForeignLayerImage with the foreign layer's URL
// prefix (the layer's hex digest is appended), for tests that serve it.
func ForeignLayerImageAt(seed int64, layers int, layerSize int, p ocispec.Platform, urlPrefix string) (*Image, error) {
	base, err := NewImage(seed, layers, layerSize, Docker, Gzip, p)
	if err != nil {
		return nil, err
	}
	raw, err := layerTar(seed, layers, layerSize)
	if err != nil {
		return nil, fmt.Errorf("fixture foreign layer seed %d: %w", seed, err)
	}
	l, err := newLayer(MediaTypeDockerForeignLayer, Gzip, raw)
	if err != nil {
		return nil, fmt.Errorf("fixture foreign layer seed %d: %w", seed, err)
	}
	l.URLs = []string{urlPrefix + l.Digest.Encoded()}
	base.Layers = append(base.Layers, l)
	if err := base.finish(seed); err != nil {
		return nil, err
	}
	return base, nil
}

func layerMediaType(f Format, c Compression) (string, error) {
	switch {
	case f == Docker && c == Gzip:
		return MediaTypeDockerLayerGzip, nil
	case f == Docker && c == Uncompressed:
		return MediaTypeDockerLayer, nil
	case f == OCI && c == Gzip:
		return ocispec.MediaTypeImageLayerGzip, nil
	case f == OCI && c == Zstd:
		return ocispec.MediaTypeImageLayerZstd, nil
	case f == OCI && c == Uncompressed:
		return ocispec.MediaTypeImageLayer, nil
	}
	// Docker schema 2 has no zstd layer type; buildx switches to OCI for it.
	return "", fmt.Errorf("fixture image: format %d with compression %d: %w", f, c, errdefs.ErrUnsupported)
}

// finish (re)builds the config and manifest from the layers.
func (img *Image) finish(seed int64) error {
	created := fixtureTime
	cfg := ocispec.Image{
		Created:  &created,
		Platform: img.Platform,
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:        []string{"/layer0/latest"},
			WorkingDir: "/",
			Labels:     map[string]string{"org.imagec.fixture.seed": fmt.Sprint(seed)},
		},
		RootFS: ocispec.RootFS{Type: "layers"},
	}
	for i, l := range img.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		cfg.History = append(cfg.History, ocispec.History{
			Created:   &created,
			CreatedBy: fmt.Sprintf("/bin/sh -c #(nop) ADD dir:layer%d in / ", i),
		})
	}
	var err error
	if img.Config, err = json.Marshal(cfg); err != nil {
		return fmt.Errorf("fixture config: %w", err)
	}
	manifestType, configType := ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
	if img.Format == Docker {
		manifestType, configType = MediaTypeDockerManifest, MediaTypeDockerConfig
	}
	img.ConfigDesc = descriptorFor(configType, img.Config)
	m := ocispec.Manifest{MediaType: manifestType, Config: img.ConfigDesc, Layers: []ocispec.Descriptor{}}
	m.SchemaVersion = 2
	for _, l := range img.Layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size, URLs: l.URLs})
	}
	if img.Manifest, err = json.MarshalIndent(m, "", "   "); err != nil {
		return fmt.Errorf("fixture manifest: %w", err)
	}
	img.ManifestDesc = descriptorFor(manifestType, img.Manifest)
	p := img.Platform
	img.ManifestDesc.Platform = &p
	return nil
}

func descriptorFor(mediaType string, body []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}
}

// ImageFromTars builds an image whose layers are the given uncompressed
// tars, bottom first, compressed with c (for benchmarks and tests that need
// particular content).
func ImageFromTars(seed int64, f Format, c Compression, p ocispec.Platform, tars [][]byte) (*Image, error) {
	img := &Image{Format: f, Platform: p}
	mediaType, err := layerMediaType(f, c)
	if err != nil {
		return nil, err
	}
	for _, raw := range tars {
		l, err := newLayer(mediaType, c, raw)
		if err != nil {
			return nil, err
		}
		img.Layers = append(img.Layers, l)
	}
	if err := img.finish(seed); err != nil {
		return nil, err
	}
	return img, nil
}
