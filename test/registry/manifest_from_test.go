package registry_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// A dead mirror and one serving other bytes for the digest asked for are
// passed over; the registry's verified manifest is returned.
func TestGetManifestFrom(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	c := newTestClient(t)
	img, other := fixture(t, 41, fixtures.OCI), fixture(t, 42, fixtures.OCI)
	pushImage(t, c, regRef(t, upstream, "m/x:v1"), img)
	liar := faultproxy.Start(t, upstream.URL)
	liar.Inject(faultproxy.Replace(faultproxy.Manifest, 0, img.ManifestDesc.MediaType, other.Manifest))
	pin := "m/x@" + img.ManifestDesc.Digest.String()
	refs := []reference.Reference{
		reference.MustParse("127.0.0.1:1/" + pin),
		refOnHost(t, liar.Host, pin),
		regRef(t, upstream, pin),
	}
	m, err := c.GetManifestFrom(context.Background(), refs, []string{img.ManifestDesc.MediaType})
	if err != nil || !bytes.Equal(m.Body, img.Manifest) {
		t.Fatalf("GetManifestFrom: %v", err)
	}
	if liar.Count("GET", img.ManifestDesc.Digest.String()) != 1 {
		t.Errorf("the lying mirror was asked %d times, want once (no retries at a mirror)", liar.Count("GET", img.ManifestDesc.Digest.String()))
	}
	if _, err := c.GetManifestFrom(context.Background(), refs[:2], nil); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("without the registry: %v", err)
	}
}
