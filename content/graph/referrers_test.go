package graph

import (
	"context"
	"testing"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestReferrersListsStoredDocumentsOfASubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := memory{}
	subject := image(t, m, "amd64")
	other := image(t, m, "arm64")
	empty := m.put("application/vnd.oci.empty.v1+json", []byte("{}"))
	sig := m.putJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig", Config: empty, Layers: []ocispec.Descriptor{empty},
		Subject: &subject, Annotations: map[string]string{"org.example": "yes"},
	})
	sbomCfg := m.put("application/vnd.example.sbom.config", []byte(`{"x":1}`))
	sbom := m.putJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: sbomCfg, Layers: []ocispec.Descriptor{empty}, Subject: &subject,
	})
	elsewhere := m.putJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig", Config: empty, Layers: []ocispec.Descriptor{empty}, Subject: &other,
	})
	// The signature is reached twice: named, and listed by an index.
	idx := index(t, m, nil, subject, sig)
	roots := []ocispec.Descriptor{idx, sig, sbom, elsewhere}

	got, err := Referrers(ctx, m, roots, subject.Digest, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Referrers = %+v, want the signature and the SBOM", got)
	}
	byDigest := map[string]ocispec.Descriptor{got[0].Digest.String(): got[0], got[1].Digest.String(): got[1]}
	if d := byDigest[sig.Digest.String()]; d.ArtifactType != "application/vnd.example.sig" || d.Size != sig.Size ||
		d.MediaType != ocispec.MediaTypeImageManifest || d.Annotations["org.example"] != "yes" {
		t.Errorf("signature listed as %+v", d)
	}
	if d := byDigest[sbom.Digest.String()]; d.ArtifactType != "application/vnd.example.sbom.config" {
		t.Errorf("SBOM listed as %+v, want the config's media type as its artifact type", d)
	}
	if got[0].Digest > got[1].Digest {
		t.Errorf("not ordered by digest: %s, %s", got[0].Digest, got[1].Digest)
	}

	only, err := Referrers(ctx, m, roots, subject.Digest, "application/vnd.example.sig")
	if err != nil || len(only) != 1 || only[0].Digest != sig.Digest {
		t.Fatalf("Referrers filtered by artifact type = %+v, %v", only, err)
	}
	none, err := Referrers(ctx, m, roots, sig.Digest, "")
	if err != nil || len(none) != 0 {
		t.Fatalf("Referrers of a subject nothing refers to = %+v, %v", none, err)
	}
}
