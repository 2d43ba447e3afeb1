package verify

import "testing"

// Signatures come from registries: reading their annotations must fail
// cleanly, whatever they hold.
func FuzzLegacyEntity(f *testing.F) {
	f.Add("MEUCIQ==", "", `{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":0,"logID":"00"}}`)
	f.Add("", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", "{}")
	f.Fuzz(func(t *testing.T, sig, cert, bundle string) {
		_, _ = newLegacyEntity(legacySignature{payload: []byte("{}"), annotations: map[string]string{
			AnnotationSignature: sig, AnnotationCertificate: cert, AnnotationRekorBundle: bundle,
		}})
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"default":[{"type":"reject"}],"transports":{"docker":{"a.example/b":[{"type":"insecureAcceptAnything"}]}}}`))
	f.Add([]byte(`{"default":[{"type":"sigstoreSigned","keyData":"AA==","signedIdentity":{"type":"matchRepository"}}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePolicy(doc, t.TempDir())
		if err == nil && p.Default == nil {
			t.Fatal("a policy without a default")
		}
	})
}
