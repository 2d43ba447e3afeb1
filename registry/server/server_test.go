package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
)

func TestManifestsAreTheStoredBytes(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	oci := storeImage(t, st, 1, fixtures.OCI, "example.com/app/oci:1")
	docker := storeImage(t, st, 2, fixtures.Docker, "example.com/app/docker:1")
	h := New(st)

	for _, tc := range []struct {
		target string
		img    *fixtures.Image
	}{
		{"/v2/app/oci/manifests/1", oci},
		{"/v2/app/oci/manifests/" + oci.ManifestDesc.Digest.String(), oci},
		// A Docker manifest is named through imagec's wrapper index; the
		// registry's document is what is served.
		{"/v2/app/docker/manifests/1", docker},
		{"/v2/app/docker/manifests/" + docker.ManifestDesc.Digest.String(), docker},
	} {
		got := do(t, h, http.MethodGet, tc.target)
		if got.status != http.StatusOK || !bytes.Equal(got.body, tc.img.Manifest) {
			t.Fatalf("GET %s = %d %q", tc.target, got.status, got.body)
		}
		if ct, dcd := got.header.Get("Content-Type"), got.header.Get("Docker-Content-Digest"); ct != tc.img.ManifestDesc.MediaType || dcd != tc.img.ManifestDesc.Digest.String() {
			t.Errorf("GET %s: Content-Type %q, Docker-Content-Digest %q", tc.target, ct, dcd)
		}
		head := do(t, h, http.MethodHead, tc.target)
		if head.status != http.StatusOK || len(head.body) != 0 || head.header.Get("Content-Length") != fmt.Sprint(len(tc.img.Manifest)) ||
			head.header.Get("Docker-Content-Digest") != tc.img.ManifestDesc.Digest.String() {
			t.Errorf("HEAD %s = %d %v", tc.target, head.status, head.header)
		}
	}

	entry, err := st.Image(context.Background(), "example.com/app/docker:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/v2/app/docker/manifests/" + entry.Digest.String(),             // the wrapper: imagec's own
		"/v2/app/docker/manifests/" + docker.ConfigDesc.Digest.String(), // a blob, not a manifest
		"/v2/app/oci/manifests/" + docker.ManifestDesc.Digest.String(),  // another repository's
		"/v2/app/oci/manifests/2",
	} {
		if got := do(t, h, http.MethodGet, target); got.status != http.StatusNotFound || errorCode(t, got.body) != "MANIFEST_UNKNOWN" {
			t.Errorf("GET %s = %d %s, want 404 MANIFEST_UNKNOWN", target, got.status, got.body)
		}
	}
}

func TestBlobsWithRangesAndOnlyReachable(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	img := storeImage(t, st, 3, fixtures.OCI, "example.com/app:1")
	loose := storeImage(t, st, 4, fixtures.OCI, "") // stored, named by nothing
	h := New(st)
	layer := img.Layers[1]
	target := "/v2/app/blobs/" + layer.Digest.String()

	got := do(t, h, http.MethodGet, target)
	if got.status != http.StatusOK || !bytes.Equal(got.body, layer.Data) || got.header.Get("Accept-Ranges") != "bytes" ||
		got.header.Get("Docker-Content-Digest") != layer.Digest.String() {
		t.Fatalf("GET blob = %d %v (%d bytes)", got.status, got.header, len(got.body))
	}
	head := do(t, h, http.MethodHead, target)
	if head.status != http.StatusOK || len(head.body) != 0 || head.header.Get("Content-Length") != fmt.Sprint(layer.Size) {
		t.Fatalf("HEAD blob = %d %v", head.status, head.header)
	}
	part := do(t, h, http.MethodGet, target, "Range", "bytes=10-19")
	if part.status != http.StatusPartialContent || !bytes.Equal(part.body, layer.Data[10:20]) ||
		part.header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", layer.Size) {
		t.Fatalf("GET Range 10-19 = %d %v %q", part.status, part.header, part.body)
	}
	tail := do(t, h, http.MethodGet, target, "Range", fmt.Sprintf("bytes=%d-", layer.Size-5))
	if tail.status != http.StatusPartialContent || !bytes.Equal(tail.body, layer.Data[layer.Size-5:]) {
		t.Fatalf("GET open range = %d %q", tail.status, tail.body)
	}
	if got := do(t, h, http.MethodGet, target, "Range", fmt.Sprintf("bytes=%d-", layer.Size)); got.status != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("GET range past the end = %d", got.status)
	}
	// The manifest is a blob too; a stored blob no name reaches is not.
	if got := do(t, h, http.MethodGet, "/v2/app/blobs/"+img.ManifestDesc.Digest.String()); got.status != http.StatusOK {
		t.Fatalf("GET manifest as blob = %d", got.status)
	}
	for _, d := range []digest.Digest{loose.Layers[0].Digest, digest.FromString("absent")} {
		if got := do(t, h, http.MethodGet, "/v2/app/blobs/"+d.String()); got.status != http.StatusNotFound || errorCode(t, got.body) != "BLOB_UNKNOWN" {
			t.Fatalf("GET unreachable blob = %d %s", got.status, got.body)
		}
	}
}

func TestNamesByPathOrNamespace(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	a := storeImage(t, st, 5, fixtures.OCI, "a.example.com/team/app:1")
	b := storeImage(t, st, 6, fixtures.OCI, "b.example.com/team/app:1")
	hub := storeImage(t, st, 7, fixtures.OCI, "docker.io/library/alpine:3.20")
	storeImage(t, st, 8, fixtures.OCI, "a.example.com/team/app:2")
	h := New(st)

	digestOf := func(target string) string {
		got := do(t, h, http.MethodGet, target)
		if got.status != http.StatusOK {
			return fmt.Sprintf("%d %s", got.status, got.body)
		}
		return got.header.Get("Docker-Content-Digest")
	}
	for target, want := range map[string]digest.Digest{
		"/v2/team/app/manifests/1?ns=a.example.com":      a.ManifestDesc.Digest,
		"/v2/team/app/manifests/1?ns=b.example.com":      b.ManifestDesc.Digest,
		"/v2/library/alpine/manifests/3.20":              hub.ManifestDesc.Digest,
		"/v2/alpine/manifests/3.20":                      hub.ManifestDesc.Digest, // the path read as a name
		"/v2/library/alpine/manifests/3.20?ns=docker.io": hub.ManifestDesc.Digest,
	} {
		if got := digestOf(target); got != want.String() {
			t.Errorf("GET %s: %s, want %s", target, got, want)
		}
	}
	// Two registries hold team/app: without ns the path is ambiguous.
	got := do(t, h, http.MethodGet, "/v2/team/app/manifests/1")
	if got.status != http.StatusNotFound || errorCode(t, got.body) != "NAME_UNKNOWN" || !strings.Contains(string(got.body), "ns=") {
		t.Fatalf("ambiguous path = %d %s", got.status, got.body)
	}
	if got := do(t, h, http.MethodGet, "/v2/team/app/manifests/1?ns=c.example.com"); got.status != http.StatusNotFound || errorCode(t, got.body) != "NAME_UNKNOWN" {
		t.Fatalf("unknown ns = %d %s", got.status, got.body)
	}

	tags := do(t, h, http.MethodGet, "/v2/team/app/tags/list?ns=a.example.com")
	var list struct {
		Name string
		Tags []string
	}
	if err := json.Unmarshal(tags.body, &list); err != nil || list.Name != "team/app" || strings.Join(list.Tags, ",") != "1,2" {
		t.Fatalf("tags list = %d %s", tags.status, tags.body)
	}
	page := do(t, h, http.MethodGet, "/v2/team/app/tags/list?ns=a.example.com&n=1&last=1")
	if !strings.Contains(string(page.body), `"tags":["2"]`) {
		t.Fatalf("tags page after 1 = %s", page.body)
	}
}

func TestReferrersOfWhatTheStoreHolds(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	img := storeImage(t, st, 9, fixtures.OCI, "example.com/app:1")
	sig := storeReferrer(t, st, img.ManifestDesc, "application/vnd.example.sig", "example.com/app:sig")
	sbom := storeReferrer(t, st, img.ManifestDesc, "application/vnd.example.sbom", "example.com/app:sbom")
	h := New(st)

	target := "/v2/app/referrers/" + img.ManifestDesc.Digest.String()
	got := do(t, h, http.MethodGet, target)
	var idx ocispec.Index
	if err := json.Unmarshal(got.body, &idx); err != nil || got.status != http.StatusOK || got.header.Get("Content-Type") != ocispec.MediaTypeImageIndex {
		t.Fatalf("GET referrers = %d %v %s", got.status, got.header, got.body)
	}
	if len(idx.Manifests) != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("referrers index = %s", got.body)
	}
	filtered := do(t, h, http.MethodGet, target+"?artifactType=application/vnd.example.sig")
	if err := json.Unmarshal(filtered.body, &idx); err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sig.Digest ||
		idx.Manifests[0].ArtifactType != "application/vnd.example.sig" || idx.Manifests[0].Annotations["org.example.kind"] == "" ||
		filtered.header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered referrers = %v %s", filtered.header, filtered.body)
	}
	none := do(t, h, http.MethodGet, "/v2/app/referrers/"+sbom.Digest.String())
	if none.status != http.StatusOK || !strings.Contains(string(none.body), `"manifests":[]`) {
		t.Fatalf("referrers of an unreferred digest = %d %s", none.status, none.body)
	}
}

func TestRefusesWritesAndBadPaths(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	storeImage(t, st, 10, fixtures.OCI, "example.com/app:1")
	var log bytes.Buffer
	h := New(st, WithAccessLog(&log))

	base := do(t, h, http.MethodGet, "/v2/")
	if base.status != http.StatusOK || base.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/ = %d %v", base.status, base.header)
	}
	for _, tc := range []struct{ method, target string }{
		{http.MethodPost, "/v2/app/blobs/uploads/"},
		{http.MethodPut, "/v2/app/manifests/1"},
		{http.MethodDelete, "/v2/app/manifests/1"},
		{http.MethodPatch, "/v2/app/blobs/uploads/x"},
	} {
		got := do(t, h, tc.method, tc.target)
		if got.status != http.StatusMethodNotAllowed || errorCode(t, got.body) != "UNSUPPORTED" {
			t.Errorf("%s %s = %d %s", tc.method, tc.target, got.status, got.body)
		}
	}
	for target, code := range map[string]string{
		"/v2/App/manifests/1":               "NAME_INVALID",
		"/v2/../x/manifests/1":              "NAME_INVALID",
		"/v2/app/blobs/sha256:../../x":      "NOT_FOUND",
		"/v2/app/blobs/sha256:zz":           "DIGEST_INVALID",
		"/v2/app/manifests/%2e%2e":          "MANIFEST_INVALID",
		"/v2/app/referrers/latest":          "DIGEST_INVALID",
		"/v2/app/nonsense/x":                "NOT_FOUND",
		"/v2/app/manifests/1?ns=bad%20host": "NAME_INVALID",
	} {
		got := do(t, h, http.MethodGet, target)
		if got.status/100 != 4 || errorCode(t, got.body) != code {
			t.Errorf("GET %s = %d %s, want %s", target, got.status, got.body, code)
		}
	}

	do(t, h, http.MethodGet, "/v2/app/manifests/1", "User-Agent", "evil\x1b[2J\nagent")
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, `"GET /v2/app/manifests/1" 200 `) || !strings.Contains(last, `"evil\x1b[2J\nagent"`) {
		t.Fatalf("access log line %q", last)
	}
	if strings.ContainsAny(log.String(), "\x1b") {
		t.Fatalf("access log holds a raw escape: %q", log.String())
	}
}
