package manifest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/schema1sign"
)

// Fixtures shared by the tests and the fuzz seeds.

// emptyTarGz is the blob docker pushed for every throwaway schema 1 entry.
const emptyTarGz = digest.Digest("sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4")

// dg returns a valid, distinct digest for name.
func dg(name string) digest.Digest { return digest.FromString(name) }

// v1ID returns a distinct valid v1 image id for name.
func v1ID(name string) string {
	sum := sha256.Sum256([]byte("v1:" + name))
	return fmt.Sprintf("%x", sum)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func desc(mt string, name string, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: dg(name), Size: size}
}

// imageManifest returns an image manifest document of media type mt.
func imageManifest(t testing.TB, mt, configType string, layerTypes ...string) []byte {
	t.Helper()
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mt,
		"config":        desc(configType, "config", 1234),
	}
	var layers []ocispec.Descriptor
	for i, lt := range layerTypes {
		layers = append(layers, desc(lt, fmt.Sprint("layer", i), int64(1000+i)))
	}
	m["layers"] = layers
	if mt == "" {
		delete(m, "mediaType")
	}
	return mustJSON(t, m)
}

// indexDoc returns an index document of media type mt listing entries.
func indexDoc(t testing.TB, mt string, entries ...ocispec.Descriptor) []byte {
	t.Helper()
	if entries == nil {
		entries = []ocispec.Descriptor{}
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": mt, "manifests": entries}
	if mt == "" {
		delete(m, "mediaType")
	}
	return mustJSON(t, m)
}

// v1Entry describes one schema 1 history entry.
type v1Entry struct {
	name, parent string // names turned into ids by v1ID; parent "" for the base
	throwaway    bool
	cmd          []string
	blob         digest.Digest
	extra        map[string]any // more v1 fields, e.g. config
}

func (e v1Entry) json(t testing.TB) string {
	t.Helper()
	m := map[string]any{
		"id":             v1ID(e.name),
		"created":        "2015-10-31T22:22:54.690851953Z",
		"docker_version": "1.9.1",
		"container_config": map[string]any{
			"Cmd": e.cmd,
		},
	}
	if e.parent != "" {
		m["parent"] = v1ID(e.parent)
	}
	if e.throwaway {
		m["throwaway"] = true
	}
	for k, v := range e.extra {
		m[k] = v
	}
	return string(mustJSON(t, m))
}

// schema1Doc returns an unsigned schema 1 manifest, entries top first, indented
// as docker/distribution's schema1.Sign marshalled it.
func schema1Doc(t testing.TB, entries ...v1Entry) []byte {
	t.Helper()
	s := Schema1{SchemaVersion: 1, Name: "library/busybox", Tag: "latest", Architecture: "amd64"}
	for _, e := range entries {
		blob := e.blob
		if blob == "" {
			blob = dg("blob-" + e.name)
		}
		s.FSLayers = append(s.FSLayers, Schema1FSLayer{BlobSum: blob})
		s.History = append(s.History, Schema1History{V1Compatibility: e.json(t)})
	}
	b, err := json.MarshalIndent(s, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// threeEntries is a realistic busybox-like history: base layer, a throwaway
// ENV entry, and a top CMD entry that carries the image config.
func threeEntries() []v1Entry {
	return []v1Entry{
		{name: "top", parent: "env", throwaway: false, cmd: []string{"/bin/sh", "-c", "#(nop) CMD [\"sh\"]"}, extra: map[string]any{
			"author":       "Alyssa <alyssa@example.com>",
			"comment":      "a & b",
			"Size":         0,
			"container":    "3f2a",
			"architecture": "amd64",
			"os":           "linux",
			"config":       map[string]any{"Cmd": []string{"sh"}, "Env": []string{"PATH=/usr/bin:/bin"}},
			"parent_id":    "sha256:" + v1ID("env"),
			"layer_id":     "sha256:" + v1ID("layer"),
		}},
		{name: "env", parent: "base", throwaway: true, blob: emptyTarGz, cmd: []string{"/bin/sh", "-c", "#(nop) ENV X=1"}},
		{name: "base", cmd: []string{"/bin/sh", "-c", "#(nop) ADD file:a3bc in /"}},
	}
}

// sign signs payload with every key as docker/distribution's schema1.Sign
// does (libtrust pretty JWS) and returns the signed body.
func sign(t testing.TB, payload []byte, keys ...crypto.Signer) []byte {
	t.Helper()
	body, err := schema1sign.Sign(payload, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// newKey generates a key of the kind a signature with JWS algorithm alg
// is made with.
func newKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) crypto.Signer { return newKey(t, "ES256") }

// keyID is libtrust's ID of pub.
func keyID(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	id, err := schema1sign.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// replaceOnce replaces the single occurrence of old in s or fails.
func replaceOnce(t testing.TB, s []byte, old, new string) []byte {
	t.Helper()
	if strings.Count(string(s), old) != 1 {
		t.Fatalf("%q occurs %d times", old, strings.Count(string(s), old))
	}
	return []byte(strings.Replace(string(s), old, new, 1))
}

func dgBytes(b []byte) digest.Digest { return digest.FromBytes(b) }

func ocispecVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }
