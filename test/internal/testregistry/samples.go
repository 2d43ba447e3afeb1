package testregistry

import (
	"context"
	"fmt"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The sample references SeedSamples pushes (repository:tag, without the
// registry host).
const (
	SampleHello   = "samples/hello:latest"   // fixtures.Docker schema 2, gzip, 3 layers
	SampleOCI     = "samples/oci:latest"     // fixtures.OCI manifest, gzip
	SampleMulti   = "samples/multi:latest"   // fixtures.OCI index: 3 platforms + attestation
	SampleZstd    = "samples/zstd:latest"    // fixtures.OCI manifest, zstd layers
	SampleForeign = "samples/foreign:latest" // fixtures.Docker, last layer foreign
)

// sampleLayerSize keeps the samples quick to push and pull yet large enough
// for a progress display to move.
const sampleLayerSize = 96 << 10

var (
	linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	// SampleMultiPlatforms are the platforms of SampleMulti, in index order.
	SampleMultiPlatforms = []ocispec.Platform{
		linuxAMD64,
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	}
)

// SeedSamples pushes the sample set used by the README demo and tests and
// returns each full reference ("HOST/samples/hello:latest") with the digest
// of the manifest (or index) its tag points to. Fixtures are deterministic,
// so the digests are the same on every run.
func SeedSamples(ctx context.Context, r *Registry) (map[string]digest.Digest, error) {
	out := map[string]digest.Digest{}
	single := []struct {
		ref  string
		make func() (*fixtures.Image, error)
	}{
		{SampleHello, func() (*fixtures.Image, error) {
			return fixtures.NewImage(1, 3, sampleLayerSize, fixtures.Docker, fixtures.Gzip, linuxAMD64)
		}},
		{SampleOCI, sampleOCIImage},
		{SampleZstd, func() (*fixtures.Image, error) {
			return fixtures.NewImage(6, 2, sampleLayerSize, fixtures.OCI, fixtures.Zstd, linuxAMD64)
		}},
		{SampleForeign, func() (*fixtures.Image, error) { return fixtures.ForeignLayerImage(7, 2, sampleLayerSize, linuxAMD64) }},
	}
	for _, s := range single {
		img, err := s.make()
		if err != nil {
			return nil, fmt.Errorf("building sample %s: %w", s.ref, err)
		}
		repo, tag := splitRepoTag(s.ref)
		if err := r.Push(ctx, repo, tag, img); err != nil {
			return nil, fmt.Errorf("pushing sample %s: %w", s.ref, err)
		}
		out[r.Host+"/"+s.ref] = img.ManifestDesc.Digest
	}

	idx, err := SampleMultiIndex()
	if err != nil {
		return nil, err
	}
	repo, tag := splitRepoTag(SampleMulti)
	if err := r.PushIndex(ctx, repo, tag, idx); err != nil {
		return nil, fmt.Errorf("pushing sample %s: %w", SampleMulti, err)
	}
	out[r.Host+"/"+SampleMulti] = idx.Desc.Digest
	return out, nil
}

// sampleOCIImage builds SampleOCI.
func sampleOCIImage() (*fixtures.Image, error) {
	return fixtures.NewImage(2, 2, sampleLayerSize, fixtures.OCI, fixtures.Gzip, linuxAMD64)
}

// SampleMultiIndex builds the index SeedSamples pushes as SampleMulti, for
// tests that want its children's digests.
func SampleMultiIndex() (*fixtures.Index, error) {
	var imgs []*fixtures.Image
	for i, p := range SampleMultiPlatforms {
		img, err := fixtures.NewImage(int64(3+i), 2, sampleLayerSize, fixtures.OCI, fixtures.Gzip, p)
		if err != nil {
			return nil, fmt.Errorf("building sample %s for %s/%s: %w", SampleMulti, p.OS, p.Architecture, err)
		}
		imgs = append(imgs, img)
	}
	return fixtures.NewIndex(fixtures.OCI, imgs...)
}

func splitRepoTag(ref string) (repo, tag string) {
	for i := len(ref) - 1; i >= 0 && ref[i] != '/'; i-- {
		if ref[i] == ':' {
			return ref[:i], ref[i+1:]
		}
	}
	return ref, "latest"
}
