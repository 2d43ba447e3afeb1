// Referrers travel with their image: pulled into the store and attached,
// pushed and copied after it (with the tag schema where the destination
// has no referrers API), saved and loaded, and collected with it.
package referrers_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/push"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
	"github.com/imagec/imagec/verify"
	"github.com/imagec/imagec/verify/sigstore"
)

var ctx = context.Background()

const sbomType = "application/spdx+json"

// graph of an image: a signature (a bundle), an SBOM, and a signature of
// the SBOM (a referrer of a referrer).
type seeded struct {
	reg                *testregistry.Registry
	ref                reference.Reference
	img                *fixtures.Image
	key                *signtest.Key
	sig, sbom, sbomSig *signtest.Artifact
}

func seed(t *testing.T, c *registry.Client, opts ...testregistry.Option) *seeded {
	t.Helper()
	s := &seeded{reg: testregistry.Start(t, opts...)}
	var err error
	if s.img, err = fixtures.NewImage(5, 1, 256, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Fatal(err)
	}
	if err := s.reg.Push(ctx, "app", "v1", s.img); err != nil {
		t.Fatal(err)
	}
	s.ref = reference.MustParse(s.reg.Host + "/app:v1")
	if s.key, err = signtest.NewKey(); err != nil {
		t.Fatal(err)
	}
	b, err := s.key.Bundle(s.img.ManifestDesc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if s.sig, err = signtest.BundleReferrer(s.img.ManifestDesc, b); err != nil {
		t.Fatal(err)
	}
	sbom := signtest.NewBlob(sbomType, []byte(`{"spdxVersion":"SPDX-2.3"}`), nil)
	if s.sbom, err = signtest.NewArtifact(sbomType, []signtest.Blob{sbom}, &s.img.ManifestDesc, map[string]string{"org.example.kind": "sbom"}); err != nil {
		t.Fatal(err)
	}
	b2, err := s.key.Bundle(s.sbom.Desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if s.sbomSig, err = signtest.BundleReferrer(s.sbom.Desc, b2); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*signtest.Artifact{s.sig, s.sbom, s.sbomSig} {
		if err := s.reg.PushArtifact(ctx, "app", "", a); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.PutReferrer(ctx, s.ref, a.Desc.MediaType, a.Manifest); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func digests(descs []ocispec.Descriptor) map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	for _, d := range descs {
		out[d.Digest] = true
	}
	return out
}

// wantListed fails unless repo at host lists exactly want as subject's
// referrers, and says whether it used the tag schema.
func wantListed(t *testing.T, c *registry.Client, at reference.Reference, subject digest.Digest, want ...*signtest.Artifact) bool {
	t.Helper()
	list, err := c.Referrers(ctx, at.WithDigest(subject))
	if err != nil {
		t.Fatal(err)
	}
	got := digests(list.Manifests)
	if len(got) != len(want) {
		t.Fatalf("%s lists %d referrers of %s, want %d", at.Name(), len(got), subject, len(want))
	}
	for _, a := range want {
		if !got[a.Desc.Digest] {
			t.Fatalf("%s does not list %s", at.Name(), a.Desc.Digest)
		}
	}
	return list.TagSchema
}

func TestReferrersTravel(t *testing.T) {
	t.Parallel()
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("api=%v", api), func(t *testing.T) {
			t.Parallel()
			c, err := registry.New()
			if err != nil {
				t.Fatal(err)
			}
			var opts []testregistry.Option
			if api {
				opts = append(opts, testregistry.WithReferrersAPI(1))
			}
			s := seed(t, c, opts...)
			d := s.img.ManifestDesc.Digest
			if tagged := wantListed(t, c, s.ref, d, s.sig, s.sbom); tagged == api {
				t.Fatalf("tag schema %v with API %v", tagged, api)
			}

			// pull: the referrers and theirs, attached, no images of their own.
			st, err := local.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pull.New(c, st).Pull(ctx, s.ref, pull.WithReferrers(0, 0)); err != nil {
				t.Fatal(err)
			}
			assertStored(t, st, s)

			// push from the store to a registry without the API: the tag
			// schema is written, and the copy verifies there.
			dst := testregistry.Start(t)
			to := reference.MustParse(dst.Host + "/copy:v1")
			if _, err := push.New(c).Push(ctx, st, s.ref.String(), to, push.WithReferrers(0, 0)); err != nil {
				t.Fatal(err)
			}
			if !wantListed(t, c, to, d, s.sig, s.sbom) {
				t.Fatal("no tag schema at a destination without the API")
			}
			wantListed(t, c, to, s.sbom.Desc.Digest, s.sbomSig)
			p, _ := verify.KeyPolicy(s.key.PublicPEM())
			if _, err := verify.New(c, p, verify.WithChecker(sigstore.Checker{})).Check(ctx, to, to, d); err != nil {
				t.Fatalf("pushed copy: %v", err)
			}

			// copy registry to registry, to one with the API.
			dst2 := testregistry.Start(t, testregistry.WithReferrersAPI(2))
			to2 := reference.MustParse(dst2.Host + "/copy:v1")
			if _, err := push.New(c).Copy(ctx, s.ref, to2, push.WithReferrers(0, 0)); err != nil {
				t.Fatal(err)
			}
			if wantListed(t, c, to2, d, s.sig, s.sbom) {
				t.Fatal("tag schema at a destination with the API")
			}
			wantListed(t, c, to2, s.sbom.Desc.Digest, s.sbomSig)

			// save and load: the referrers come along, attached again.
			var buf bytes.Buffer
			if err := archive.Save(ctx, st, &buf, archive.FormatOCI, []string{s.ref.String()}); err != nil {
				t.Fatal(err)
			}
			st2, err := local.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := archive.LoadImages(ctx, st2, &buf); err != nil {
				t.Fatal(err)
			}
			assertStored(t, st2, s)

			// gc keeps them while the image is named, and takes them with it.
			if _, err := gc.Collect(ctx, st); err != nil {
				t.Fatal(err)
			}
			assertStored(t, st, s)
			if err := st.RemoveImage(ctx, s.ref.String()); err != nil {
				t.Fatal(err)
			}
			if _, err := gc.Collect(ctx, st); err != nil {
				t.Fatal(err)
			}
			if entries, err := st.Images(ctx); err != nil || len(entries) != 0 || st.Has(ctx, s.sbomSig.Desc) {
				t.Fatalf("after the image went: %d entries, SBOM signature kept %v", len(entries), st.Has(ctx, s.sbomSig.Desc))
			}
		})
	}
}

// assertStored checks the store holds the image and its three referrers,
// attached: listed by subject, not as images, their blobs present.
func assertStored(t *testing.T, st *local.Store, s *seeded) {
	t.Helper()
	imgs, errs := image.List(ctx, st)
	if len(imgs) != 1 || len(errs) != 0 {
		t.Fatalf("images: %d, errors %v", len(imgs), errs)
	}
	refs, err := graph.Referrers(ctx, st, s.img.ManifestDesc.Digest)
	if err != nil || len(refs) != 2 {
		t.Fatalf("stored referrers of the image: %d (%v)", len(refs), err)
	}
	if refs, _ := graph.Referrers(ctx, st, s.sbom.Desc.Digest); len(refs) != 1 || refs[0].Digest != s.sbomSig.Desc.Digest {
		t.Fatalf("stored referrers of the SBOM: %+v", refs)
	}
	for _, a := range []*signtest.Artifact{s.sig, s.sbom, s.sbomSig} {
		for _, b := range a.Blobs {
			if !st.Has(ctx, b.Desc) {
				t.Fatalf("blob %s of %s missing", b.Desc.Digest, a.Desc.Digest)
			}
		}
	}
}
