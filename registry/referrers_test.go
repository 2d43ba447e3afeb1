package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
)

var testSubject = digest.FromString("subject")

func referrerIndex(t *testing.T, descs ...ocispec.Descriptor) []byte {
	t.Helper()
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func referrerDesc(name, artifactType string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(name), Size: 100, ArtifactType: artifactType}
}

// The API's pages are all read, and the artifact type filter holds even
// when the registry ignores it.
func TestReferrersAPIPages(t *testing.T) {
	t.Parallel()
	sig, sbom := referrerDesc("sig", "application/sig"), referrerDesc("sbom", "application/sbom")
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/x/referrers/"+testSubject.String() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		if r.URL.Query().Get("page") == "" {
			w.Header().Set("Link", "<"+r.URL.Path+`?page=2>; rel="next"`)
			w.Write(referrerIndex(t, sig))
			return
		}
		w.Write(referrerIndex(t, sbom))
	})
	ref := refOn(t, srv, "x").WithDigest(testSubject)
	list, err := newTestClient(t).Referrers(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if list.TagSchema || len(list.Manifests) != 2 || list.Manifests[1].Digest != sbom.Digest {
		t.Fatalf("list = %+v", list)
	}
	list, err = newTestClient(t).Referrers(context.Background(), ref, ReferrersArtifactType("application/sbom"))
	if err != nil || len(list.Manifests) != 1 || list.Manifests[0].Digest != sbom.Digest {
		t.Fatalf("filtered = %+v, %v", list, err)
	}
}

// A 404 from the endpoint means no referrers API: the tag schema is read,
// and no tag means no referrers.
func TestReferrersTagSchema(t *testing.T) {
	t.Parallel()
	sig := referrerDesc("sig", "application/sig")
	for _, tagged := range []bool{true, false} {
		srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
			if tagged && r.URL.Path == "/v2/x/manifests/"+FallbackTag(testSubject) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Write(referrerIndex(t, sig))
				return
			}
			http.NotFound(w, r)
		})
		list, err := newTestClient(t).Referrers(context.Background(), refOn(t, srv, "x").WithDigest(testSubject))
		if err != nil || !list.TagSchema || len(list.Manifests) != map[bool]int{true: 1, false: 0}[tagged] {
			t.Fatalf("tagged %v: list = %+v, %v", tagged, list, err)
		}
	}
}

func TestReferrersNeedsDigest(t *testing.T) {
	t.Parallel()
	srv := fakeRegistry(t, http.NotFound)
	if _, err := newTestClient(t).Referrers(context.Background(), refOn(t, srv, "x:latest")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}

func TestReferrersMalformed(t *testing.T) {
	t.Parallel()
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:nothex","size":1}]}`))
	})
	if _, err := newTestClient(t).Referrers(context.Background(), refOn(t, srv, "x").WithDigest(testSubject)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}

func TestFallbackTag(t *testing.T) {
	t.Parallel()
	d := digest.Digest("sha256:" + strings.Repeat("a", 64))
	if got := FallbackTag(d); got != "sha256-"+strings.Repeat("a", 64) {
		t.Fatalf("FallbackTag = %q", got)
	}
	long := digest.Digest("sha512:" + strings.Repeat("b", 128))
	if got := FallbackTag(long); got != "sha512-"+strings.Repeat("b", 64) {
		t.Fatalf("FallbackTag(sha512) = %q", got)
	}
}

// A registry that answers OCI-Subject lists the referrer itself; one that
// does not gets the fallback tag's index, extended rather than replaced.
func TestPutReferrer(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/sig",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + testSubject.String() + `","size":10}}`)
	other := referrerDesc("other", "application/sbom")
	for _, api := range []bool{true, false} {
		var mu sync.Mutex
		puts := map[string][]byte{}
		srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			ref := strings.TrimPrefix(r.URL.Path, "/v2/x/manifests/")
			switch r.Method {
			case http.MethodPut:
				b, _ := io.ReadAll(r.Body)
				puts[ref] = b
				if api && ref == digest.FromBytes(body).String() {
					w.Header().Set("OCI-Subject", testSubject.String())
				}
				w.WriteHeader(http.StatusCreated)
			case http.MethodGet:
				if !api && ref == FallbackTag(testSubject) {
					w.Write(referrerIndex(t, other))
					return
				}
				http.NotFound(w, r)
			}
		})
		desc, tagged, err := newTestClient(t).PutReferrer(context.Background(), refOn(t, srv, "x:ignored"), ocispec.MediaTypeImageManifest, body)
		if err != nil || tagged == api || desc.ArtifactType != "application/sig" || desc.Digest != digest.FromBytes(body) {
			t.Fatalf("api %v: %+v, tagged %v, %v", api, desc, tagged, err)
		}
		idx, wrote := puts[FallbackTag(testSubject)]
		if wrote == api {
			t.Fatalf("api %v: fallback tag written %v", api, wrote)
		}
		if !api {
			var got ocispec.Index
			if err := json.Unmarshal(idx, &got); err != nil || len(got.Manifests) != 2 || got.Manifests[0].Digest != other.Digest || got.Manifests[1].Digest != desc.Digest {
				t.Fatalf("fallback index = %s (%v)", idx, err)
			}
		}
	}
}
