package verify

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/verify/sigcheck"
)

// Trust is what a signature must verify against: one of the public Keys,
// or a certificate from FulcioRoots naming Issuer and Subject (keyless);
// and, when RekorKeys are given (always for keyless), an entry of their
// transparency log whose inclusion promise or proof the signature carries,
// checked offline. Root, a sigstore trusted root (the JSON of
// trusted_root.json, as LoadTrustedRoot reads it), may stand in for
// FulcioRoots and RekorKeys.
type Trust struct {
	Keys []crypto.PublicKey
	// FulcioRoots are the CA certificates: self-signed ones are roots,
	// others intermediates.
	FulcioRoots []*x509.Certificate
	// Issuer is the OIDC issuer the certificate must name; Subject its
	// subject alternative name (an email, a URI): both compared exactly.
	Issuer, Subject string
	RekorKeys       []crypto.PublicKey
	Root            []byte
}

// keyless reports whether signatures are checked against certificates.
func (t *Trust) keyless() bool { return len(t.Root) > 0 || len(t.FulcioRoots) > 0 }

// ParsePublicKey reads a PEM public key (PKIX, as cosign writes
// cosign.pub).
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	return sigcheck.ParsePublicKey(pemBytes)
}

// ParseCertificates reads the PEM certificates of a CA file.
func ParseCertificates(pemBytes []byte) ([]*x509.Certificate, error) {
	return sigcheck.ParseCertificates(pemBytes)
}

// TrustedRootMediaType is the media type of the sigstore trusted roots
// imagec reads.
const TrustedRootMediaType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"

// LoadTrustedRoot reads a sigstore trusted root (trusted_root.json, as
// `cosign trusted-root create` or the sigstore TUF repository give it) for
// Trust.Root. Its form is checked here (a JSON object of the trusted root
// media type); its certificates and keys are read by the checker, which
// refuses with ErrInvalidArgument a root it cannot use.
func LoadTrustedRoot(path string) ([]byte, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %w: %w", path, err, errdefs.ErrInvalidArgument)
	}
	var head struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("trusted root %s: %v: %w", path, err, errdefs.ErrInvalidArgument)
	}
	if head.MediaType != TrustedRootMediaType {
		return nil, fmt.Errorf("trusted root %s: unsupported TrustedRoot media type: %s: %w", path, head.MediaType, errdefs.ErrInvalidArgument)
	}
	return data, nil
}

// wire is t as a checker reads it.
func (t *Trust) wire() (sigcheck.Trust, error) {
	w := sigcheck.Trust{TrustedRoot: t.Root, Issuer: t.Issuer, Subject: t.Subject}
	var err error
	if w.Keys, err = pemKeys("key", t.Keys); err != nil {
		return w, err
	}
	if w.RekorKeys, err = pemKeys("rekor key", t.RekorKeys); err != nil {
		return w, err
	}
	for _, c := range t.FulcioRoots {
		w.FulcioCAs = append(w.FulcioCAs, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	if !w.Keyless() && len(w.Keys) == 0 {
		return w, fmt.Errorf("neither a key nor a certificate authority to check signatures with: %w", errdefs.ErrInvalidArgument)
	}
	return w, nil
}

func pemKeys(what string, keys []crypto.PublicKey) ([]string, error) {
	var out []string
	for i, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("%s %d: %v: %w", what, i+1, err, errdefs.ErrInvalidArgument)
		}
		out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	}
	return out, nil
}
