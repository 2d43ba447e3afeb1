package verify

import "testing"

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
