package sigstore

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/verify/sigcheck"
)

// trust is a sigcheck.Trust read: one of the keys, or a certificate from
// fulcioRoots (or root) naming issuer and subject; and the logs' keys.
type trust struct {
	keys            []crypto.PublicKey
	fulcioRoots     []*x509.Certificate
	issuer, subject string
	rekorKeys       []crypto.PublicKey
	root            root.TrustedMaterial
}

// parseTrust reads the trust material of one requirement; an error says
// that it cannot be used at all.
func parseTrust(wt sigcheck.Trust) (*trust, error) {
	t := &trust{issuer: wt.Issuer, subject: wt.Subject}
	for i, p := range wt.Keys {
		k, err := sigcheck.ParsePublicKey([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("key %d: %v", i+1, err)
		}
		t.keys = append(t.keys, k)
	}
	for i, p := range wt.RekorKeys {
		k, err := sigcheck.ParsePublicKey([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("rekor key %d: %v", i+1, err)
		}
		t.rekorKeys = append(t.rekorKeys, k)
	}
	for _, p := range wt.FulcioCAs {
		certs, err := sigcheck.ParseCertificates([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("fulcio CA: %v", err)
		}
		t.fulcioRoots = append(t.fulcioRoots, certs...)
	}
	if len(wt.TrustedRoot) > 0 {
		tr, err := root.NewTrustedRootFromJSON(wt.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("trusted root: %v", err)
		}
		t.root = tr
	}
	if !t.keyless() && len(t.keys) == 0 {
		return nil, fmt.Errorf("neither a key nor a certificate authority")
	}
	return t, nil
}

// keyless reports whether signatures are checked against certificates.
func (t *trust) keyless() bool { return t.root != nil || len(t.fulcioRoots) > 0 }

// since is the start of a Rekor key's validity: policy files give none,
// and sigstore-go wants one.
var since = time.Unix(1, 0)

// material is the sigstore-go trusted material one attempt verifies
// against: the key at index key (keyless: ignored), the CAs, the logs.
func (t *trust) material(key int) (root.TrustedMaterial, error) {
	logs := map[string]*root.TransparencyLog{}
	for _, k := range t.rekorKeys {
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
	for _, c := range t.fulcioRoots {
		if !isSelfSigned(c) {
			intermediates = append(intermediates, c)
		}
	}
	for _, c := range t.fulcioRoots {
		if isSelfSigned(c) {
			cas = append(cas, &root.FulcioCertificateAuthority{Root: c, Intermediates: intermediates})
		}
	}
	base, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, nil, logs)
	if err != nil {
		return nil, err
	}
	coll := root.TrustedMaterialCollection{base}
	if t.root != nil {
		coll = append(coll, t.root)
	}
	if !t.keyless() {
		v, err := signature.LoadVerifier(t.keys[key], crypto.SHA256)
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
func (t *trust) verifier(key int) (*sgverify.Verifier, error) {
	m, err := t.material(key)
	if err != nil {
		return nil, err
	}
	var opts []sgverify.VerifierOption
	switch {
	case t.keyless():
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithIntegratedTimestamps(1))
	case len(t.rekorKeys) > 0:
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithIntegratedTimestamps(1))
	default:
		opts = append(opts, sgverify.WithNoObserverTimestamps())
	}
	return sgverify.NewVerifier(m, opts...)
}

// attempts is how many verifiers a signature is tried with: one per key,
// or one for keyless.
func (t *trust) attempts() int {
	if t.keyless() {
		return 1
	}
	return len(t.keys)
}

// identity is the identity part of sigstore-go's policy for t.
func (t *trust) identity() (sgverify.PolicyOption, error) {
	if !t.keyless() {
		return sgverify.WithKey(), nil
	}
	id, err := sgverify.NewShortCertificateIdentity(t.issuer, "", t.subject, "")
	if err != nil {
		return nil, fmt.Errorf("certificate identity: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return sgverify.WithCertificateIdentity(id), nil
}
