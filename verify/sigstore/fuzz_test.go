package sigstore

import (
	"testing"

	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/verify/sigcheck"
)

// Signatures come from registries: reading their annotations must fail
// cleanly, whatever they hold.
func FuzzLegacyEntity(f *testing.F) {
	f.Add("MEUCIQ==", "", `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":0,"logID":"00"}}`)
	f.Add("", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "{}")
	f.Fuzz(func(t *testing.T, sig, cert, bundle string) {
		_, _ = newLegacyEntity(sigcheck.Legacy{Payload: []byte("{}"), Signature: sig, Certificate: cert, RekorBundle: bundle})
	})
}

// A bundle from a registry is checked whatever it holds: a result per
// trust, never a panic.
func FuzzCheckBundle(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AA=="},"signature":"AA=="}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}`))
	key := string(signtest.MustNewKey(f).PublicPEM())
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := &sigcheck.Request{
			Version: sigcheck.Version, Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000",
			Trust: []sigcheck.Trust{{Keys: []string{key}}}, Bundles: [][]byte{raw},
		}
		resp, err := Check(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Validate(req); err != nil || resp.Results[0].Error != "" {
			t.Fatal(err, resp.Results[0].Error)
		}
	})
}
