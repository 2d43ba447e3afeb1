package manifest

import (
	"errors"
	"testing"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestLayerTypes checks the layer media types compress knows against the
// spec constants (written out where ocispec deprecates them), and which of
// them are foreign.
func TestLayerTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mediaType   string
		compression compress.Kind
		foreign     bool
		unsupported bool
	}{
		{ocispec.MediaTypeImageLayer, compress.None, false, false},
		{ocispec.MediaTypeImageLayerGzip, compress.Gzip, false, false},
		{ocispec.MediaTypeImageLayerZstd, compress.Zstd, false, false},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar", compress.None, true, false},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", compress.Gzip, true, false},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", compress.Zstd, true, false},
		{MediaTypeDockerLayer, compress.Gzip, false, false},
		{MediaTypeDockerForeignLayer, compress.Gzip, true, false},
		{"application/vnd.docker.image.rootfs.diff.tar", compress.None, false, false},
		{"application/vnd.docker.image.rootfs.diff.tar.zstd", compress.Zstd, false, false},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar", compress.None, true, false},
		{"application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "", false, true},
		{ocispec.MediaTypeImageConfig, "", false, true},
		{MediaTypeDockerConfig, "", false, true},
		{"", "", false, true},
		{"APPLICATION/VND.OCI.IMAGE.LAYER.V1.TAR", "", false, true},
	}
	for _, tt := range tests {
		got, err := compress.ForMediaType(tt.mediaType)
		if tt.unsupported {
			if !errors.Is(err, errdefs.ErrUnsupported) {
				t.Errorf("ForMediaType(%q) error = %v, want ErrUnsupported", tt.mediaType, err)
			}
		} else if err != nil || got != tt.compression {
			t.Errorf("ForMediaType(%q) = %q, %v; want %q", tt.mediaType, got, err, tt.compression)
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
