package manifest

import (
	"errors"
	"testing"

	"github.com/imagec/imagec/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestLayerCompression(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mediaType   string
		compression string
		foreign     bool
		unsupported bool
	}{
		{ocispec.MediaTypeImageLayer, "", false, false},
		{ocispec.MediaTypeImageLayerGzip, "gzip", false, false},
		{ocispec.MediaTypeImageLayerZstd, "zstd", false, false},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar", "", true, false},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip", true, false},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "zstd", true, false},
		{MediaTypeDockerLayer, "gzip", false, false},
		{MediaTypeDockerForeignLayer, "gzip", true, false},
		{"application/vnd.docker.image.rootfs.diff.tar", "", false, false},
		{"application/vnd.docker.image.rootfs.diff.tar.zstd", "zstd", false, false},
		{"application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "", false, true},
		{ocispec.MediaTypeImageConfig, "", false, true},
		{MediaTypeDockerConfig, "", false, true},
		{"", "", false, true},
		{"APPLICATION/VND.OCI.IMAGE.LAYER.V1.TAR", "", false, true},
	}
	for _, tt := range tests {
		got, err := LayerCompression(tt.mediaType)
		if tt.unsupported {
			if !errors.Is(err, errdefs.ErrUnsupported) {
				t.Errorf("LayerCompression(%q) error = %v, want ErrUnsupported", tt.mediaType, err)
			}
		} else if err != nil || got != tt.compression {
			t.Errorf("LayerCompression(%q) = %q, %v; want %q", tt.mediaType, got, err, tt.compression)
		}
		if IsForeign(tt.mediaType) != tt.foreign {
			t.Errorf("IsForeign(%q) = %v, want %v", tt.mediaType, !tt.foreign, tt.foreign)
		}
	}
}

func TestKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mediaType             string
		index, image, schema1 bool
	}{
		{ocispec.MediaTypeImageIndex, true, false, false},
		{MediaTypeDockerManifestList, true, false, false},
		{ocispec.MediaTypeImageManifest, false, true, false},
		{MediaTypeDockerManifest, false, true, false},
		{MediaTypeDockerSchema1, false, false, true},
		{MediaTypeDockerSchema1Signed, false, false, true},
		{MediaTypeDockerConfig, false, false, false},
		{"application/json", false, false, false},
	}
	for _, tt := range tests {
		if IsIndex(tt.mediaType) != tt.index || IsImage(tt.mediaType) != tt.image || IsSchema1(tt.mediaType) != tt.schema1 {
			t.Errorf("%q: IsIndex/IsImage/IsSchema1 = %v/%v/%v, want %v/%v/%v", tt.mediaType,
				IsIndex(tt.mediaType), IsImage(tt.mediaType), IsSchema1(tt.mediaType), tt.index, tt.image, tt.schema1)
		}
	}
}

func TestAcceptOrder(t *testing.T) {
	t.Parallel()
	want := []string{
		ocispec.MediaTypeImageIndex, MediaTypeDockerManifestList,
		ocispec.MediaTypeImageManifest, MediaTypeDockerManifest,
		MediaTypeDockerSchema1Signed, MediaTypeDockerSchema1,
	}
	if len(Accept) != len(want) {
		t.Fatalf("Accept = %v, want %v", Accept, want)
	}
	for i := range want {
		if Accept[i] != want[i] {
			t.Errorf("Accept[%d] = %q, want %q", i, Accept[i], want[i])
		}
	}
}
