package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/imagec/imagec/reference"
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

// legacyEntity is a legacy signature as sigstore-go verifies it: a
// message signature over the payload, by a key or a certificate, with the
// Rekor entry of its bundle annotation (an inclusion promise, no proof).
type legacyEntity struct {
	sgverify.BaseSignedEntity
	payload []byte
	sig     []byte
	cert    *x509.Certificate
	entries []*tlog.Entry
}

func (e *legacyEntity) VerificationContent() (sgverify.VerificationContent, error) {
	if e.cert != nil {
		return bundle.NewCertificate(e.cert), nil
	}
	return &bundle.PublicKey{}, nil
}

func (e *legacyEntity) SignatureContent() (sgverify.SignatureContent, error) {
	sum := sha256.Sum256(e.payload)
	return bundle.NewMessageSignature(sum[:], "SHA2_256", e.sig), nil
}

func (e *legacyEntity) TlogEntries() ([]*tlog.Entry, error) { return e.entries, nil }
func (e *legacyEntity) Timestamps() ([][]byte, error)       { return nil, nil }
func (e *legacyEntity) HasInclusionPromise() bool           { return len(e.entries) > 0 }

// Version is none of the bundle versions, whose compatibility fallbacks
// (other hashes for P-384 keys) cosign's legacy form never needed.
func (e *legacyEntity) Version() (string, error) { return "cosign-simplesigning", nil }

// newLegacyEntity reads a legacy signature's annotations.
func newLegacyEntity(s legacySignature) (*legacyEntity, error) {
	sig, err := base64.StdEncoding.DecodeString(s.annotations[AnnotationSignature])
	if err != nil || len(sig) == 0 {
		return nil, errors.New("no base64 signature annotation")
	}
	e := &legacyEntity{payload: s.payload, sig: sig}
	if c := s.annotations[AnnotationCertificate]; c != "" {
		certs, err := ParseCertificates([]byte(c))
		if err != nil {
			return nil, fmt.Errorf("certificate annotation: %v", err)
		}
		e.cert = certs[0]
	}
	if b := s.annotations[AnnotationRekorBundle]; b != "" {
		entry, err := rekorBundleEntry([]byte(b))
		if err != nil {
			return nil, fmt.Errorf("rekor bundle annotation: %v", err)
		}
		e.entries = []*tlog.Entry{entry}
	}
	return e, nil
}

// rekorBundleEntry reads cosign's Rekor bundle: the log's signed entry
// timestamp over the entry's canonical body, time, index and log ID.
func rekorBundleEntry(raw []byte) (*tlog.Entry, error) {
	var b struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           []byte `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	logID, err := hex.DecodeString(b.Payload.LogID)
	if err != nil {
		return nil, fmt.Errorf("log ID: %v", err)
	}
	return tlog.NewEntry(b.Payload.Body, b.Payload.IntegratedTime, b.Payload.LogIndex, logID, b.SignedEntryTimestamp, nil) //nolint:staticcheck // the legacy form carries a Rekor v1 entry, which NewEntry is for
}

// checkLegacy verifies one legacy signature as a signature of want under
// req: the signature over the payload first (so that what the payload says
// is only believed once it is signed), then the digest it names, then the
// reference it vouches for.
func checkLegacy(s legacySignature, req Requirement, want digest.Digest, pulled reference.Reference) *failure {
	e, err := newLegacyEntity(s)
	if err != nil {
		return &failure{reason: reasonMalformed, err: err}
	}
	f := verifyEntity(e, req.Trust, func() sgverify.ArtifactPolicyOption { return sgverify.WithArtifact(bytes.NewReader(s.payload)) }, false)
	if f != nil {
		return f
	}
	var p simpleSigning
	if err := json.Unmarshal(s.payload, &p); err != nil {
		return &failure{reason: reasonMalformed, err: fmt.Errorf("signed payload: %v", err)}
	}
	if !strings.EqualFold(p.Critical.Type, simpleSigningType) {
		return &failure{reason: reasonMalformed, err: fmt.Errorf("signed payload of type %q, not %q", p.Critical.Type, simpleSigningType)}
	}
	if p.Critical.Image.DockerManifestDigest != want.String() {
		return &failure{reason: reasonDigest, err: fmt.Errorf("the signed payload is for %s", p.Critical.Image.DockerManifestDigest)}
	}
	if !req.Identity.Matches(p.Critical.Identity.DockerReference, pulled) {
		return &failure{reason: reasonIdentity, err: fmt.Errorf("signed for %q, which %s does not accept for %s", p.Critical.Identity.DockerReference, req.Identity.describe(), pulled)}
	}
	return nil
}
