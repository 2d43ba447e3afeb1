package verify

import (
	"crypto"
	"fmt"

	"github.com/imagec/imagec/errdefs"
)

// KeyPolicy is the policy of `--verify-key`: every image must carry a
// signature by one of the PEM public keys, with cosign verify's semantics
// (the signed digest is checked, the signed reference is not, so a copy
// of a signed image verifies in another repository).
func KeyPolicy(pems ...[]byte) (*Policy, error) {
	if len(pems) == 0 {
		return nil, fmt.Errorf("no key: %w", errdefs.ErrInvalidArgument)
	}
	var keys []crypto.PublicKey
	for i, p := range pems {
		k, err := ParsePublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("key %d: %v: %w", i+1, err, errdefs.ErrInvalidArgument)
		}
		keys = append(keys, k)
	}
	return single(&Trust{Keys: keys}), nil
}

// KeylessPolicy is the policy of `--certificate-identity` and
// `--certificate-oidc-issuer`: every image must carry a signature whose
// Fulcio certificate, issued by the trusted root's CA, names subject
// (exactly) as issued by issuer (exactly), logged in the trusted root's
// transparency log (its proof checked offline).
func KeylessPolicy(trusted *Trust, issuer, subject string) (*Policy, error) {
	if trusted == nil || (len(trusted.Root) == 0 && len(trusted.FulcioRoots) == 0) {
		return nil, fmt.Errorf("keyless verification needs a trusted root (certificate authority and log keys): %w", errdefs.ErrInvalidArgument)
	}
	if issuer == "" || subject == "" {
		return nil, fmt.Errorf("keyless verification needs both the certificate identity and its OIDC issuer: %w", errdefs.ErrInvalidArgument)
	}
	t := *trusted
	t.Issuer, t.Subject = issuer, subject
	return single(&t), nil
}

func single(t *Trust) *Policy {
	return &Policy{Default: []Requirement{{Kind: SigstoreSigned, Trust: t}}, Docker: map[string][]Requirement{}}
}
