package sigstore

import (
	"testing"

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
