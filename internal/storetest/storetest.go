// Package storetest tampers with a store's files the way another program
// writing to the same directory could, for tests of what imagec does with
// what it did not write itself.
package storetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ForgeName writes an index.json entry naming desc name directly into the
// store at root, bypassing every check the store makes when it records a
// name, and replacing any entry of that name.
func ForgeName(t testing.TB, root, name string, desc ocispec.Descriptor) {
	t.Helper()
	path := filepath.Join(root, "index.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	annotations := map[string]string{}
	for k, v := range desc.Annotations {
		annotations[k] = v
	}
	annotations[ocispec.AnnotationRefName] = name
	desc.Annotations = annotations
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] != name {
			kept = append(kept, m)
		}
	}
	idx.Manifests = append(kept, desc)
	if b, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
