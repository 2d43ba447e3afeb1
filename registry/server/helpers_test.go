package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/internal/fixtures"
)

func newStore(t *testing.T) *local.Store {
	t.Helper()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func put(t *testing.T, st *local.Store, desc ocispec.Descriptor, data []byte) {
	t.Helper()
	if err := st.WriteBlob(context.Background(), desc, data); err != nil {
		t.Fatal(err)
	}
}

func putJSON(t *testing.T, st *local.Store, mediaType string, v any) (ocispec.Descriptor, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	put(t, st, d, b)
	return d, b
}

// storeImage writes a fixture image's blobs and manifest and, when name
// is set, names it the way a pull does: a Docker manifest through
// imagec's wrapper index.
func storeImage(t *testing.T, st *local.Store, seed int64, f fixtures.Format, name string) *fixtures.Image {
	t.Helper()
	img, err := fixtures.NewImage(seed, 2, 4096, f, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, img.ConfigDesc, img.Config)
	for _, l := range img.Layers {
		put(t, st, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}, l.Data)
	}
	put(t, st, img.ManifestDesc, img.Manifest)
	if name == "" {
		return img
	}
	entry := img.ManifestDesc
	if f == fixtures.Docker {
		body, wentry, err := graph.WrapIndex(img.ManifestDesc.Digest, []ocispec.Descriptor{img.ManifestDesc})
		if err != nil {
			t.Fatal(err)
		}
		put(t, st, ocispec.Descriptor{MediaType: wentry.MediaType, Digest: wentry.Digest, Size: wentry.Size}, body)
		entry = wentry
	}
	entry.Platform = nil
	if err := st.SetImage(context.Background(), name, entry); err != nil {
		t.Fatal(err)
	}
	return img
}

// storeReferrer stores a signature-like artifact whose subject is
// subject, named name.
func storeReferrer(t *testing.T, st *local.Store, subject ocispec.Descriptor, artifactType, name string) ocispec.Descriptor {
	t.Helper()
	empty := ocispec.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: digest.FromBytes([]byte("{}")), Size: 2}
	put(t, st, empty, []byte("{}"))
	subject.Platform, subject.Annotations = nil, nil
	d, _ := putJSON(t, st, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: &subject,
		Annotations: map[string]string{"org.example.kind": artifactType},
	})
	if err := st.SetImage(context.Background(), name, d); err != nil {
		t.Fatal(err)
	}
	return d
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, h http.Handler, method, target string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return response{status: rec.Code, header: rec.Result().Header, body: body}
}

// errorCode is the first code of a distribution error body.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not a distribution error body: %q", body)
	}
	return e.Errors[0].Code
}
