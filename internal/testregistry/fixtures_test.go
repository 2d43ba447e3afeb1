package testregistry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestNewImageDeterministic(t *testing.T) {
	t.Parallel()
	a, err := NewImage(5, 2, 3000, OCI, Zstd, amd64)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewImage(5, 2, 3000, OCI, Zstd, amd64)
	if err != nil {
		t.Fatal(err)
	}
	if a.ManifestDesc.Digest != b.ManifestDesc.Digest || a.ConfigDesc.Digest != b.ConfigDesc.Digest {
		t.Errorf("same seed: manifests %s vs %s", a.ManifestDesc.Digest, b.ManifestDesc.Digest)
	}
	for i := range a.Layers {
		if a.Layers[i].Digest != b.Layers[i].Digest {
			t.Errorf("same seed: layer %d %s vs %s", i, a.Layers[i].Digest, b.Layers[i].Digest)
		}
	}
	c, err := NewImage(6, 2, 3000, OCI, Zstd, amd64)
	if err != nil {
		t.Fatal(err)
	}
	if c.ManifestDesc.Digest == a.ManifestDesc.Digest || c.Layers[0].DiffID == a.Layers[0].DiffID {
		t.Error("different seeds gave the same image")
	}
}

func TestNewImageContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format       Format
		comp         Compression
		layerType    string
		manifestType string
		configType   string
	}{
		{Docker, Gzip, MediaTypeDockerLayerGzip, MediaTypeDockerManifest, MediaTypeDockerConfig},
		{Docker, Uncompressed, MediaTypeDockerLayer, MediaTypeDockerManifest, MediaTypeDockerConfig},
		{OCI, Gzip, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig},
		{OCI, Zstd, ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig},
		{OCI, Uncompressed, ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig},
	}
	arm := ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	for _, tc := range tests {
		t.Run(tc.layerType, func(t *testing.T) {
			t.Parallel()
			const size = 10000
			img, err := NewImage(9, 3, size, tc.format, tc.comp, arm)
			if err != nil {
				t.Fatal(err)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(img.Manifest, &m); err != nil {
				t.Fatal(err)
			}
			if m.MediaType != tc.manifestType || m.Config.MediaType != tc.configType || len(m.Layers) != 3 {
				t.Fatalf("manifest %s config %s with %d layers", m.MediaType, m.Config.MediaType, len(m.Layers))
			}
			if img.ManifestDesc.Digest != digest.FromBytes(img.Manifest) || img.ManifestDesc.Platform.Variant != "v7" {
				t.Errorf("manifest descriptor %+v", img.ManifestDesc)
			}
			var cfg ocispec.Image
			if err := json.Unmarshal(img.Config, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Architecture != "arm" || cfg.Variant != "v7" || cfg.OS != "linux" || len(cfg.History) != 3 {
				t.Errorf("config platform %s/%s/%s with %d history entries", cfg.OS, cfg.Architecture, cfg.Variant, len(cfg.History))
			}
			for i, l := range img.Layers {
				if m.Layers[i].MediaType != tc.layerType || m.Layers[i].Digest != l.Digest || l.Digest != digest.FromBytes(l.Data) {
					t.Errorf("layer %d descriptor %+v", i, m.Layers[i])
				}
				raw := decompress(t, tc.comp, l.Data)
				if digest.FromBytes(raw) != l.DiffID || cfg.RootFS.DiffIDs[i] != l.DiffID {
					t.Errorf("layer %d diffID %s, config says %s", i, digest.FromBytes(raw), cfg.RootFS.DiffIDs[i])
				}
				checkTar(t, raw, size)
			}
		})
	}
}

func TestNewImageRejects(t *testing.T) {
	t.Parallel()
	if _, err := NewImage(1, 1, 10, Docker, Zstd, amd64); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("docker+zstd: err = %v, want ErrUnsupported", err)
	}
	if _, err := NewImage(1, -1, 10, OCI, Gzip, amd64); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("negative layers: err = %v, want ErrInvalidArgument", err)
	}
	if _, err := NewIndex(OCI); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("empty index: err = %v, want ErrInvalidArgument", err)
	}
}

func decompress(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var rd io.Reader = bytes.NewReader(data)
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	case Zstd:
		zr, err := zstd.NewReader(rd)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		rd = zr
	}
	raw, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// checkTar asserts a layer has directories, regular files totalling size
// and a symlink.
func checkTar(t *testing.T, raw []byte, size int) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(raw))
	kinds := map[byte]int{}
	total := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds[h.Typeflag]++
		if h.Typeflag == tar.TypeReg && h.Name != "etc/fixture-layer" {
			total += int(h.Size)
		}
	}
	if kinds[tar.TypeDir] < 2 || kinds[tar.TypeReg] < filesPerLayer || kinds[tar.TypeSymlink] != 1 || total != size {
		t.Errorf("tar entries by type %v, payload %d bytes, want %d", kinds, total, size)
	}
}
