// Package sigcheck is the plain data of a signature check: what the verify
// package asks (an image's candidate signatures, the trust material of each
// requirement) and what the checker answers (per requirement and candidate,
// verified or the reason it failed). It is the request and response that
// the offline helper imagec-sigstore reads from its standard input and
// writes to its standard output, as JSON, and what the in-process checker
// (package verify/sigstore) takes and returns.
//
// It imports nothing but the standard library (and none of its network
// packages), so that both sides can share it: imagec, which must not link
// sigstore's code, and the helper, which must link nothing of ours that
// reaches the network.
package sigcheck

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Version is the version of the request and response. The helper refuses
// a request of another version: an imagec and an imagec-sigstore from
// different builds must not misread each other.
const Version = 1

// MaxRequestSize bounds the JSON request the helper reads; it refuses a
// larger one. The verify package keeps its requests well under it (each
// form of signature is read up to a byte budget).
const MaxRequestSize = 64 << 20

// MaxResponseSize bounds the JSON response imagec reads from the helper:
// a reason and a line of text per candidate and requirement.
const MaxResponseSize = 4 << 20

// Request asks for the checks of one image's candidate signatures against
// each requirement's trust material.
type Request struct {
	Version int `json:"version"`
	// Digest is the digest of the manifest the registry served, which a
	// bundle must be a signature of (a legacy payload names it too, but
	// what a payload says is read by the asking side once its signature
	// verified).
	Digest string `json:"digest"`
	// Trust is one entry per sigstoreSigned requirement.
	Trust []Trust `json:"trust"`
	// Bundles are sigstore bundles (JSON, as read from the registry).
	Bundles [][]byte `json:"bundles,omitempty"`
	// Legacy are cosign's legacy signatures.
	Legacy []Legacy `json:"legacy,omitempty"`
}

// Trust is what a signature must verify against: one of the public Keys,
// or, keyless, a certificate from FulcioCAs or TrustedRoot naming Issuer
// and Subject (both compared exactly); and, when RekorKeys are given
// (always for keyless, unless TrustedRoot holds the log), an entry of
// their transparency log, whose inclusion promise or proof is checked
// offline.
type Trust struct {
	// Keys are PEM public keys (PKIX).
	Keys []string `json:"keys,omitempty"`
	// FulcioCAs are PEM certificates: self-signed ones are roots, others
	// intermediates.
	FulcioCAs []string `json:"fulcioCAs,omitempty"`
	// RekorKeys are the transparency log's PEM public keys.
	RekorKeys []string `json:"rekorKeys,omitempty"`
	// TrustedRoot is a sigstore trusted root (trusted_root.json).
	TrustedRoot []byte `json:"trustedRoot,omitempty"`
	Issuer      string `json:"issuer,omitempty"`
	Subject     string `json:"subject,omitempty"`
}

// Keyless reports whether signatures are checked against certificates.
func (t *Trust) Keyless() bool { return len(t.TrustedRoot) > 0 || len(t.FulcioCAs) > 0 }

// Legacy is one signature of cosign's legacy form: a layer of the
// sha256-<hex>.sig manifest, its blob (the simple-signing payload) and its
// annotations as the registry served them.
type Legacy struct {
	Payload []byte `json:"payload"`
	// Signature is the dev.cosignproject.cosign/signature annotation
	// (base64).
	Signature string `json:"signature"`
	// Certificate is dev.sigstore.cosign/certificate (PEM), keyless.
	Certificate string `json:"certificate,omitempty"`
	// RekorBundle is dev.sigstore.cosign/bundle (JSON): the log's signed
	// entry timestamp.
	RekorBundle string `json:"rekorBundle,omitempty"`
}

// Response answers a Request.
type Response struct {
	Version int `json:"version"`
	// Results has one entry per Request.Trust, in order.
	Results []TrustResult `json:"results"`
}

// TrustResult is the outcome of one requirement's trust material.
type TrustResult struct {
	// Error, when set, says that the trust material itself is unusable
	// (a trusted root that does not parse): no candidate was checked.
	Error string `json:"error,omitempty"`
	// Bundles and Legacy have one entry per candidate of the request, in
	// order. A legacy signature's Result says whether the signature over
	// its payload verifies (with its certificate's identity, keyless);
	// what the payload vouches for is the asking side's to check.
	Bundles []Result `json:"bundles"`
	Legacy  []Result `json:"legacy"`
}

// Result is one candidate's outcome: verified (Reason "") or why not.
type Result struct {
	Reason Reason `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// OK reports whether the candidate verified.
func (r Result) OK() bool { return r.Reason == "" }

// Reason is why a candidate failed.
type Reason string

// The reasons, least telling first: the user hears of the failure that
// got furthest.
const (
	// Malformed: unreadable (not a bundle, no signature annotation, a
	// certificate that does not parse).
	Malformed Reason = "malformed"
	// Signature: the signature does not verify with the trust material.
	Signature Reason = "signature"
	// Identity: a valid signature, by another identity (keyless).
	Identity Reason = "identity"
	// Digest: a valid signature, of another digest.
	Digest Reason = "digest"
)

// Rank orders reasons by how telling they are (Malformed lowest); an
// unknown reason ranks below all.
func (r Reason) Rank() int {
	switch r {
	case Malformed:
		return 1
	case Signature:
		return 2
	case Identity:
		return 3
	case Digest:
		return 4
	}
	return 0
}

// Validate checks that resp answers req: the version, one result per trust
// and, unless that trust failed as a whole, one per candidate, each with a
// known reason and a failure's text.
func (resp *Response) Validate(req *Request) error {
	if resp.Version != Version {
		return fmt.Errorf("response version %d, want %d", resp.Version, Version)
	}
	if len(resp.Results) != len(req.Trust) {
		return fmt.Errorf("%d results for %d requirements", len(resp.Results), len(req.Trust))
	}
	for i, tr := range resp.Results {
		if tr.Error != "" {
			continue
		}
		if len(tr.Bundles) != len(req.Bundles) || len(tr.Legacy) != len(req.Legacy) {
			return fmt.Errorf("requirement %d: %d bundle and %d legacy results for %d and %d signatures", i+1, len(tr.Bundles), len(tr.Legacy), len(req.Bundles), len(req.Legacy))
		}
		for _, r := range append(append([]Result(nil), tr.Bundles...), tr.Legacy...) {
			if !r.OK() && r.Reason.Rank() == 0 {
				return fmt.Errorf("requirement %d: unknown reason %q", i+1, r.Reason)
			}
			if !r.OK() && r.Error == "" {
				return errors.New("a failure without its text")
			}
		}
	}
	return nil
}

// ParsePublicKey reads a PEM public key (PKIX, as cosign writes
// cosign.pub).
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(bytes.TrimSpace(pemBytes))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKIX public key: %v", err)
	}
	return pub, nil
}

// ParseCertificates reads the PEM certificates of a CA file (blocks of
// other types are skipped).
func ParseCertificates(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}
