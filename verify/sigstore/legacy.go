package sigstore

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/imagec/imagec/verify/sigcheck"
)

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
func newLegacyEntity(s sigcheck.Legacy) (*legacyEntity, error) {
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(sig) == 0 {
		return nil, errors.New("no base64 signature annotation")
	}
	e := &legacyEntity{payload: s.Payload, sig: sig}
	if c := s.Certificate; c != "" {
		certs, err := sigcheck.ParseCertificates([]byte(c))
		if err != nil {
			return nil, fmt.Errorf("certificate annotation: %v", err)
		}
		e.cert = certs[0]
	}
	if b := s.RekorBundle; b != "" {
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

// checkLegacy verifies a legacy signature over its payload under t (and,
// keyless, its certificate's identity). What the payload says is not read
// here: the asking side believes it once this has verified it.
func checkLegacy(e *legacyEntity, t *trust) *failure {
	return verifyEntity(e, t, func() sgverify.ArtifactPolicyOption { return sgverify.WithArtifact(bytes.NewReader(e.payload)) }, false)
}
