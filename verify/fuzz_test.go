package verify

import "testing"

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"default":[{"type":"reject"}],"transports":{"docker":{"a.example/b":[{"type":"insecureAcceptAnything"}]}}}`))
	f.Add([]byte(`{"default":[{"type":"sigstoreSigned","keyData":"AA==","signedIdentity":{"type":"matchRepository"}}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePolicy(doc, t.TempDir())
		if err != nil {
			return
		}
		// What the verifier relies on of a parsed policy: a default to
		// fall back to, and trust material behind every signature
		// requirement (it dereferences Trust).
		lists := [][]Requirement{p.Default}
		for _, l := range p.Docker {
			lists = append(lists, l)
		}
		for _, l := range lists {
			if len(l) == 0 {
				t.Fatal("a scope with no requirement")
			}
			for _, r := range l {
				if r.Kind == SigstoreSigned && r.Trust == nil {
					t.Fatal("a sigstoreSigned requirement without trust material")
				}
			}
		}
	})
}
