package graph

import (
	"context"
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
)

func TestRepoDigestTrustsOnlyConsistentWrappers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := memory{}
	amd, arm := image(t, m, "amd64"), image(t, m, "arm64")
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	list := m.putJSON(t, manifest.MediaTypeDockerManifestList, map[string]any{
		"schemaVersion": 2, "mediaType": manifest.MediaTypeDockerManifestList, "manifests": []ocispec.Descriptor{amd, arm}})
	wrap := func(src ocispec.Descriptor, children ...ocispec.Descriptor) ocispec.Descriptor {
		body, entry, err := WrapIndex(src.Digest, children)
		if err != nil {
			t.Fatal(err)
		}
		m[entry.Digest] = body
		return entry
	}
	armAsAMD := arm
	armAsAMD.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	for name, tc := range map[string]struct {
		entry ocispec.Descriptor
		want  ocispec.Descriptor
	}{
		"oci manifest":                  {amd, amd},
		"lone docker manifest":          {wrap(amd, amd), amd},
		"manifest list":                 {wrap(list, amd, arm), list},
		"list with a child left out":    {wrap(list, amd), ocispec.Descriptor{}},
		"list with a platform swapped":  {wrap(list, amd, armAsAMD), ocispec.Descriptor{}},
		"a manifest claiming another's": {wrap(arm, amd), ocispec.Descriptor{}},
	} {
		got, err := RepoDigest(ctx, m, tc.entry)
		want := tc.want.Digest
		if want == "" {
			want = tc.entry.Digest // its own digest: no registry serves it
		}
		if err != nil || got != want {
			t.Errorf("%s: RepoDigest = %s, %v; want %s", name, got, err, want)
		}
	}
	if err := CheckName(ctx, m, "example.com/x@"+list.Digest.String(), wrap(list, amd)); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Errorf("CheckName of a forged wrapper = %v, want digest mismatch", err)
	}
	if err := CheckName(ctx, m, "example.com/x@"+list.Digest.String(), wrap(list, amd, arm)); err != nil {
		t.Errorf("CheckName of the real wrapper = %v", err)
	}
	if err := CheckName(ctx, m, "example.com/x:tag", amd); err != nil {
		t.Errorf("CheckName of a tag = %v", err)
	}
}
