package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// pushImage pushes img's config and layers to ref's repository (with
// opts), then its manifest to ref, and returns the descriptor PutManifest
// gave.
func pushImage(t *testing.T, c *registry.Client, ref reference.Reference, img *fixtures.Image, opts ...registry.UploadOption) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	if _, err := c.PushBlob(ctx, ref, img.ConfigDesc, registry.ReaderAtSource(bytes.NewReader(img.Config))); err != nil {
		t.Fatal(err)
	}
	for _, l := range img.Layers {
		desc := ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		if _, err := c.PushBlob(ctx, ref, desc, registry.ReaderAtSource(bytes.NewReader(l.Data)), opts...); err != nil {
			t.Fatal(err)
		}
	}
	desc, err := c.PutManifest(ctx, ref, img.ManifestDesc.MediaType, img.Manifest)
	if err != nil {
		t.Fatalf("PutManifest %s: %v", ref, err)
	}
	return desc
}

var linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

func fixture(t *testing.T, seed int64, f fixtures.Format) *fixtures.Image {
	t.Helper()
	img, err := fixtures.NewImage(seed, 2, 8<<10, f, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPutManifestByTagAndDigest(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	c := newTestClient(t)
	ctx := context.Background()
	for _, f := range []fixtures.Format{fixtures.Docker, fixtures.OCI} {
		img := fixture(t, 11+int64(f), f)
		tagged := regRef(t, reg, "put/m:v1")
		desc := pushImage(t, c, tagged, img)
		if desc.Digest != img.ManifestDesc.Digest || desc.Size != int64(len(img.Manifest)) || desc.MediaType != img.ManifestDesc.MediaType {
			t.Fatalf("PutManifest gave %+v, want %+v", desc, img.ManifestDesc)
		}
		m, err := c.GetManifest(ctx, tagged, []string{img.ManifestDesc.MediaType})
		if err != nil || !bytes.Equal(m.Body, img.Manifest) || m.MediaType != img.ManifestDesc.MediaType {
			t.Fatalf("read back %s: %v", tagged, err)
		}
		// By digest, into a repository that mounts the blobs.
		byDigest := regRef(t, reg, "put/other").WithDigest(img.ManifestDesc.Digest)
		for _, d := range append([]ocispec.Descriptor{img.ConfigDesc}, layerDescs(img)...) {
			if got, err := c.PushBlob(ctx, byDigest, d, mountOnly(t), registry.MountFrom(tagged)); err != nil || got != registry.BlobMounted {
				t.Fatalf("mount %s: %v %v", d.Digest, got, err)
			}
		}
		if desc, err := c.PutManifest(ctx, byDigest, img.ManifestDesc.MediaType, img.Manifest); err != nil || desc.Digest != img.ManifestDesc.Digest {
			t.Fatalf("PutManifest by digest: %+v, %v", desc, err)
		}
	}

	img := fixture(t, 13, fixtures.OCI)
	wrong := regRef(t, reg, "put/m").WithDigest(img.ConfigDesc.Digest)
	if _, err := c.PutManifest(ctx, wrong, img.ManifestDesc.MediaType, img.Manifest); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("a digest the body does not hash to: %v", err)
	}
	// The blobs were never pushed: the registry refuses the manifest.
	_, err := c.PutManifest(ctx, regRef(t, reg, "put/missing:v1"), img.ManifestDesc.MediaType, img.Manifest)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "MANIFEST_BLOB_UNKNOWN") ||
		!strings.HasPrefix(err.Error(), "push manifest to "+reg.Host+"/put/missing:v1: ") {
		t.Fatalf("manifest with missing blobs: %v", err)
	}
	if _, err := c.PutManifest(ctx, regRef(t, reg, "put/m:v2"), "", img.Manifest); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("no media type: %v", err)
	}
}

func layerDescs(img *fixtures.Image) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, l := range img.Layers {
		out = append(out, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size})
	}
	return out
}

// mountOnly is a source that fails the test if read: for blobs that must be
// mounted, never uploaded.
func mountOnly(t *testing.T) registry.BlobSource {
	return func(context.Context, int64) (io.ReadCloser, error) {
		t.Error("a blob meant to be mounted was read for upload")
		return nil, errdefs.ErrInvalidArgument
	}
}

func TestPutManifestDeniedWithoutPush(t *testing.T) {
	t.Parallel()
	reg := tokenRegistry(t)
	admin := newTestClient(t, userCreds("admin", "root"))
	img := fixture(t, 14, fixtures.OCI)
	pushImage(t, admin, regRef(t, reg, "c/ro:v1"), img)
	alice := newTestClient(t, userCreds("alice", "pw"))
	if _, err := alice.GetManifest(context.Background(), regRef(t, reg, "c/ro:v1"), []string{img.ManifestDesc.MediaType}); err != nil {
		t.Fatalf("alice may pull c/ro: %v", err)
	}
	_, err := alice.PutManifest(context.Background(), regRef(t, reg, "c/ro:v2"), img.ManifestDesc.MediaType, img.Manifest)
	if !errors.Is(err, errdefs.ErrDenied) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("push to a pull-only repository: %v", err)
	}
}
