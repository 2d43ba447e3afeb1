package verify_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/testregistry"
	"github.com/imagec/imagec/verify"
	"github.com/imagec/imagec/verify/sigstore"
)

var ctx = context.Background()

// env is a registry holding one image, app:v1, to sign.
type env struct {
	reg    *testregistry.Registry
	client *registry.Client
	img    *fixtures.Image
	ref    reference.Reference // the image by tag
	repo   string              // as cosign writes it: host/app
}

func newEnv(t *testing.T, format fixtures.Format, opts ...testregistry.Option) *env {
	t.Helper()
	e := &env{reg: testregistry.Start(t, opts...)}
	var err error
	if e.img, err = fixtures.NewImage(41, 1, 512, format, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Push(ctx, "app", "v1", e.img); err != nil {
		t.Fatal(err)
	}
	if e.client, err = registry.New(); err != nil {
		t.Fatal(err)
	}
	e.repo = e.reg.Host + "/app"
	e.ref = reference.MustParse(e.repo + ":v1")
	return e
}

func (e *env) digest() digest.Digest { return e.img.ManifestDesc.Digest }

// pushLegacy tags the legacy signatures of the image: payloads with their
// annotations.
func (e *env) pushLegacy(t *testing.T, payloads [][]byte, anns []map[string]string) {
	t.Helper()
	a, err := signtest.LegacyManifest(payloads, anns)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.reg.PushArtifact(ctx, "app", signtest.LegacyTag(e.digest()), a); err != nil {
		t.Fatal(err)
	}
}

// pushBundle attaches bundle to the image as a referrer; without the
// registry's referrers API, it is listed under the tag schema as a client
// (registry.PutReferrer) lists it.
func (e *env) pushBundle(t *testing.T, bundle []byte) *signtest.Artifact {
	t.Helper()
	a, err := signtest.BundleReferrer(e.img.ManifestDesc, bundle)
	if err != nil {
		t.Fatal(err)
	}
	e.attach(t, a)
	return a
}

func (e *env) attach(t *testing.T, a *signtest.Artifact) {
	t.Helper()
	if err := e.reg.PushArtifact(ctx, "app", "", a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.client.PutReferrer(ctx, e.ref, a.Desc.MediaType, a.Manifest); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustKey(t *testing.T) *signtest.Key { return signtest.MustNewKey(t) }

func mustRef(t *testing.T, s string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkers are the two ways of checking signatures: in this process
// (verify/sigstore), and through the offline helper imagec-sigstore, built
// from this checkout, as imagec checks them.
func checkers(t *testing.T) map[string]verify.Checker {
	return map[string]verify.Checker{"in-process": sigstore.Checker{}, "helper": helper(t)}
}

// helper is the Checker running the imagec-sigstore built from this
// checkout.
func helper(t *testing.T) verify.Checker { return verify.Helper(clitest.Helper(t)) }
