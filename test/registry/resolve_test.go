package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/testregistry"
)

func TestResolveAgainstDistribution(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	c := newTestClient(t)
	img := fixture(t, 31, fixtures.Docker)
	ref := regRef(t, reg, "res/olve:v1")
	pushImage(t, c, ref, img)
	accept := []string{img.ManifestDesc.MediaType}
	for _, r := range []string{"res/olve:v1", "res/olve@" + img.ManifestDesc.Digest.String()} {
		desc, err := c.Resolve(context.Background(), regRef(t, reg, r), accept)
		if err != nil || desc.Digest != img.ManifestDesc.Digest || desc.MediaType != img.ManifestDesc.MediaType {
			t.Fatalf("Resolve %s = %+v, %v", r, desc, err)
		}
	}
	if _, err := c.Resolve(context.Background(), ref.WithDigest(img.ConfigDesc.Digest), accept); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("an unknown digest: %v", err)
	}
}
