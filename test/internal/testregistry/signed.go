package testregistry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/signtest"
)

// SampleSBOMType is the artifact type of the SBOM SeedSigned attaches.
const SampleSBOMType = "application/spdx+json"

// SeedSigned signs SampleOCI, which SeedSamples pushed, for the README
// demo: with a new key, in cosign's legacy form (the sha256-<hex>.sig
// tag) and as a sigstore bundle referrer, and attaches an SBOM to it. It
// writes the public key (cosign.pub) and a policy accepting SampleOCI's
// repository signed by it and rejecting everything else (policy.json) to
// dir, and returns their paths. Referrers are listed under the tag schema
// unless the registry serves the referrers API.
func SeedSigned(ctx context.Context, r *Registry, dir string) (pub, policy string, err error) {
	img, err := sampleOCIImage()
	if err != nil {
		return "", "", err
	}
	d := img.ManifestDesc.Digest
	key, err := signtest.NewKey()
	if err != nil {
		return "", "", err
	}
	repo, _ := splitRepoTag(SampleOCI)
	subject := ocispec.Descriptor{MediaType: img.ManifestDesc.MediaType, Digest: d, Size: img.ManifestDesc.Size}
	payload := signtest.Payload(r.Host+"/"+repo, d)
	ann, err := key.SignPayload(payload)
	if err != nil {
		return "", "", err
	}
	legacy, err := signtest.LegacyManifest([][]byte{payload}, []map[string]string{ann})
	if err != nil {
		return "", "", err
	}
	if err := r.PushArtifact(ctx, repo, signtest.LegacyTag(d), legacy); err != nil {
		return "", "", err
	}
	bundle, err := key.Bundle(d)
	if err != nil {
		return "", "", err
	}
	sig, err := signtest.BundleReferrer(subject, bundle)
	if err != nil {
		return "", "", err
	}
	sbom, err := signtest.NewArtifact(SampleSBOMType, []signtest.Blob{signtest.NewBlob(SampleSBOMType, []byte(`{"spdxVersion":"SPDX-2.3","name":"samples/oci"}`), nil)},
		&subject, map[string]string{"org.opencontainers.image.description": "sample SBOM"})
	if err != nil {
		return "", "", err
	}
	for _, a := range []*signtest.Artifact{sig, sbom} {
		if err := r.pushReferrer(ctx, repo, d, a); err != nil {
			return "", "", err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	pub = filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pub, key.PublicPEM(), 0o644); err != nil {
		return "", "", err
	}
	policy = filepath.Join(dir, "policy.json")
	doc := fmt.Sprintf(`{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      %q: [{"type": "sigstoreSigned", "keyPath": %q, "signedIdentity": {"type": "matchRepository"}}]
    }
  }
}
`, r.Host+"/"+repo, pub)
	if err := os.WriteFile(policy, []byte(doc), 0o644); err != nil {
		return "", "", err
	}
	return pub, policy, nil
}

// pushReferrer pushes a referrer of subject and, where the registry has no
// referrers API, lists it under the tag schema's index as clients do.
func (r *Registry) pushReferrer(ctx context.Context, repo string, subject digest.Digest, a *signtest.Artifact) error {
	if err := r.PushArtifact(ctx, repo, "", a); err != nil {
		return err
	}
	if r.cfg.referrersPage > 0 {
		return nil
	}
	tag := string(subject.Algorithm()) + "-" + subject.Encoded()
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
	resp, err := r.Client().Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&idx)
	}
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading %s:%s: %w", repo, tag, err)
	}
	idx.Manifests = append(idx.Manifests, a.Desc)
	body, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return r.pushManifest(ctx, r.Client(), repo, tag, ocispec.MediaTypeImageIndex, body)
}
