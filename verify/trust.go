package verify

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/imagec/imagec/errdefs"
)

// Trust is what a signature must verify against: one of the public Keys,
// or a certificate from FulcioRoots naming Issuer and Subject (keyless);
// and, when RekorKeys are given (always for keyless), an entry of their
// transparency log whose inclusion promise or proof the signature carries,
// checked offline. Root, a sigstore trusted root (trusted_root.json), may
// stand in for FulcioRoots and RekorKeys.
type Trust struct {
	Keys []crypto.PublicKey
	// FulcioRoots are the CA certificates: self-signed ones are roots,
	// others intermediates.
	FulcioRoots []*x509.Certificate
	// Issuer is the OIDC issuer the certificate must name; Subject its
	// subject alternative name (an email, a URI): both compared exactly.
	Issuer, Subject string
	RekorKeys       []crypto.PublicKey
	Root            root.TrustedMaterial
}

// keyless reports whether signatures are checked against certificates.
func (t *Trust) keyless() bool { return t.Root != nil || len(t.FulcioRoots) > 0 }

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

// ParseCertificates reads the PEM certificates of a CA file.
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

// LoadTrustedRoot reads a sigstore trusted root (trusted_root.json, as
// `cosign trusted-root create` or the sigstore TUF repository give it).
func LoadTrustedRoot(path string) (root.TrustedMaterial, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %w: %w", path, err, errdefs.ErrInvalidArgument)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %v: %w", path, err, errdefs.ErrInvalidArgument)
	}
	return tr, nil
}

// since is the start of a Rekor key's validity: policy files give none,
// and sigstore-go wants one.
var since = time.Unix(1, 0)

// material is the sigstore-go trusted material one attempt verifies
// against: the key at index key (keyless: ignored), the CAs, the logs.
func (t *Trust) material(key int) (root.TrustedMaterial, error) {
	logs := map[string]*root.TransparencyLog{}
	for _, k := range t.RekorKeys {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, err
		}
		id := sha256.Sum256(der)
		logs[hex.EncodeToString(id[:])] = &root.TransparencyLog{
			ID: id[:], ValidityPeriodStart: since, HashFunc: crypto.SHA256, PublicKey: k, SignatureHashFunc: crypto.SHA256,
		}
	}
	var cas []root.CertificateAuthority
	var intermediates []*x509.Certificate
	for _, c := range t.FulcioRoots {
		if !isSelfSigned(c) {
			intermediates = append(intermediates, c)
		}
	}
	for _, c := range t.FulcioRoots {
		if isSelfSigned(c) {
			cas = append(cas, &root.FulcioCertificateAuthority{Root: c, Intermediates: intermediates})
		}
	}
	base, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, nil, logs)
	if err != nil {
		return nil, err
	}
	coll := root.TrustedMaterialCollection{base}
	if t.Root != nil {
		coll = append(coll, t.Root)
	}
	if !t.keyless() {
		v, err := signature.LoadVerifier(t.Keys[key], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("key %d: %v: %w", key+1, err, errdefs.ErrInvalidArgument)
		}
		exp := root.NewExpiringKey(v, time.Time{}, time.Time{})
		coll = append(coll, root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return exp, nil }))
	}
	return coll, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// verifier is the sigstore-go verifier of one attempt: a transparency log
// entry is required whenever there is a log to check it against, and
// keyless signatures take their time from it (a certificate lives minutes;
// only the log says it signed within them).
func (t *Trust) verifier(key int) (*sgverify.Verifier, error) {
	m, err := t.material(key)
	if err != nil {
		return nil, err
	}
	var opts []sgverify.VerifierOption
	switch {
	case t.keyless():
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithIntegratedTimestamps(1))
	case len(t.RekorKeys) > 0:
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithIntegratedTimestamps(1))
	default:
		opts = append(opts, sgverify.WithNoObserverTimestamps())
	}
	return sgverify.NewVerifier(m, opts...)
}

// attempts is how many verifiers a signature is tried with: one per key,
// or one for keyless.
func (t *Trust) attempts() int {
	if t.keyless() {
		return 1
	}
	return len(t.Keys)
}

// policy is the identity part of sigstore-go's policy for t.
func (t *Trust) identity() (sgverify.PolicyOption, error) {
	if !t.keyless() {
		return sgverify.WithKey(), nil
	}
	id, err := sgverify.NewShortCertificateIdentity(t.Issuer, "", t.Subject, "")
	if err != nil {
		return nil, fmt.Errorf("certificate identity: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return sgverify.WithCertificateIdentity(id), nil
}
