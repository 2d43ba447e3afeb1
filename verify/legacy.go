package verify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/verify/sigcheck"
)

// cosign's legacy signature form: a manifest under the tag
// sha256-<hex>.sig whose layers are simple-signing payloads, each with its
// signature (and, keyless, certificate and Rekor bundle) in annotations.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	AnnotationCertificate  = "dev.sigstore.cosign/certificate"
	AnnotationChain        = "dev.sigstore.cosign/chain"
	AnnotationRekorBundle  = "dev.sigstore.cosign/bundle"
	// simpleSigningType is critical.type of a cosign image signature.
	simpleSigningType = "cosign container image signature"
)

// SignatureTag is the tag cosign's legacy form keeps the signatures of
// manifest d under.
func SignatureTag(d digest.Digest) string {
	return string(d.Algorithm()) + "-" + d.Encoded() + ".sig"
}

// simpleSigning is a signed payload: what it vouches for.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// legacySignature is one layer of a .sig manifest with its blob.
type legacySignature struct {
	payload     []byte
	annotations map[string]string
}

// wire is s as a checker reads it: the payload and the annotations that
// carry its signature, as the registry served them.
func (s legacySignature) wire() sigcheck.Legacy {
	return sigcheck.Legacy{
		Payload:     s.payload,
		Signature:   s.annotations[AnnotationSignature],
		Certificate: s.annotations[AnnotationCertificate],
		RekorBundle: s.annotations[AnnotationRekorBundle],
	}
}

// checkPayload reads what a legacy signature's payload vouches for, once
// the checker has verified the signature over exactly these bytes (so
// that what the payload says is only believed once it is signed): the
// digest it names, then the reference.
func checkPayload(payload []byte, req Requirement, want digest.Digest, pulled reference.Reference) *failure {
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return &failure{reason: sigcheck.Malformed, msg: fmt.Sprintf("signed payload: %v", err)}
	}
	if !strings.EqualFold(p.Critical.Type, simpleSigningType) {
		return &failure{reason: sigcheck.Malformed, msg: fmt.Sprintf("signed payload of type %q, not %q", p.Critical.Type, simpleSigningType)}
	}
	if p.Critical.Image.DockerManifestDigest != want.String() {
		return &failure{reason: sigcheck.Digest, msg: fmt.Sprintf("the signed payload is for %s", p.Critical.Image.DockerManifestDigest)}
	}
	if !req.Identity.Matches(p.Critical.Identity.DockerReference, pulled) {
		return &failure{reason: sigcheck.Identity, msg: fmt.Sprintf("signed for %q, which %s does not accept for %s", p.Critical.Identity.DockerReference, req.Identity.describe(), pulled)}
	}
	return nil
}
