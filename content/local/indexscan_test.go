package local

import (
	"encoding/json"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestSplitIndexAgreesWithDecoding(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"schemaVersion":2,"manifests":[]}`,
		`{ "schemaVersion" : 2 , "mediaType":"application/vnd.oci.image.index.v1+json", "manifests" : [ {"mediaType":"a","digest":"sha256:x","size":1,"annotations":{"k":"v,}]\"q"}} , {"size":2} ] , "annotations":{"a":[1,{"b":"]"}]} }`,
		`{"manifests":[{"a":[[],{}]},{"b":null},{"c":true},{"d":-1.5e3}],"schemaVersion":2}`,
	} {
		r, err := splitIndex([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		var want struct{ Manifests []json.RawMessage }
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatal(err)
		}
		if len(r.manifests) != len(want.Manifests) {
			t.Fatalf("%s: %d elements, want %d", doc, len(r.manifests), len(want.Manifests))
		}
		for i := range want.Manifests {
			if string(r.manifests[i]) != string(want.Manifests[i]) {
				t.Errorf("%s: element %d = %s, want %s", doc, i, r.manifests[i], want.Manifests[i])
			}
		}
	}
	for _, bad := range []string{``, `[]`, `{"manifests":[{]`, `{"a":"unterminated}`, `{"a":1} x`, `{"a" 1}`, `{"manifests":[1 2]}`} {
		if _, err := splitIndex([]byte(bad)); err == nil {
			t.Errorf("%q split without error", bad)
		}
	}
}

func BenchmarkSplitIndex(b *testing.B) {
	data, err := os.ReadFile("/tmp/scale/index.json")
	if err != nil {
		b.Skip("no large index.json")
	}
	for b.Loop() {
		if _, err := splitIndex(data); err != nil {
			b.Fatal(err)
		}
	}
	_ = ocispec.Index{}
}
