package local

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/testtool"
)

// writeTestImage stores a one-layer image and names it.
func writeTestImage(t *testing.T, s *Store, name string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	var layer bytes.Buffer
	gz := gzip.NewWriter(&layer)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("hello"))
	tw.Close()
	gz.Close()
	var uncompressed bytes.Buffer
	zr, _ := gzip.NewReader(bytes.NewReader(layer.Bytes()))
	uncompressed.ReadFrom(zr)
	config, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(uncompressed.Bytes())}},
	})
	cdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	ldesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(layer.Bytes()), Size: int64(layer.Len())}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cdesc, Layers: []ocispec.Descriptor{ldesc}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
	for _, b := range []struct {
		d ocispec.Descriptor
		p []byte
	}{{cdesc, config}, {ldesc, layer.Bytes()}, {mdesc, mb}} {
		if err := s.WriteBlob(ctx, b.d, b.p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetImage(ctx, name, mdesc); err != nil {
		t.Fatal(err)
	}
	return mdesc
}

// TestInteropTools checks that other OCI tools read the store as a layout,
// when they are installed.
func TestInteropTools(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	const name = "docker.io/library/test:latest"
	mdesc := writeTestImage(t, s, name)
	t.Run("skopeo", func(t *testing.T) {
		testtool.Require(t, "skopeo")
		out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+s.Root()+":"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect: %v\n%s", err, out)
		}
		if digest.FromBytes(out) != mdesc.Digest {
			t.Errorf("skopeo returned a different manifest: %s", out)
		}
	})
	t.Run("skopeo writes into the store", func(t *testing.T) {
		testtool.Require(t, "skopeo")
		dst := newStore(t)
		writeTestImage(t, dst, "kept")
		out, err := exec.Command("skopeo", "copy", "oci:"+s.Root()+":"+name, "oci:"+dst.Root()+":copied").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo copy: %v\n%s", err, out)
		}
		again, err := Open(dst.Root())
		if err != nil {
			t.Fatalf("re-open after skopeo wrote the layout: %v", err)
		}
		ctx := context.Background()
		for _, n := range []string{"kept", "copied"} {
			d, err := again.Image(ctx, n)
			if err != nil {
				t.Fatalf("Image(%s): %v", n, err)
			}
			if _, err := again.ReadBlob(ctx, d.Digest, 1<<20); err != nil {
				t.Errorf("manifest of %s: %v", n, err)
			}
		}
	})
	t.Run("umoci", func(t *testing.T) {
		testtool.Require(t, "umoci")
		out, err := exec.Command("umoci", "ls", "--layout", s.Root()).CombinedOutput()
		if err != nil {
			t.Fatalf("umoci ls: %v\n%s", err, out)
		}
		if strings.TrimSpace(string(out)) != name {
			t.Errorf("umoci ls = %q, want %q", out, name)
		}
	})
}
