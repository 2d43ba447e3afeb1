package manifest

import (
	"bytes"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/compress"
)

func FuzzParse(f *testing.F) {
	amd64 := desc(ocispec.MediaTypeImageManifest, "amd64", 500)
	amd64.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	seeds := []struct {
		ct   string
		body []byte
	}{
		{ocispec.MediaTypeImageManifest, imageManifest(f, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayerGzip)},
		{MediaTypeDockerManifest, imageManifest(f, MediaTypeDockerManifest, MediaTypeDockerConfig, MediaTypeDockerLayer, MediaTypeDockerForeignLayer)},
		{"", imageManifest(f, "", ocispec.MediaTypeImageConfig)},
		{ocispec.MediaTypeImageIndex, indexDoc(f, ocispec.MediaTypeImageIndex, amd64)},
		{"application/json", indexDoc(f, MediaTypeDockerManifestList, amd64)},
		{MediaTypeDockerSchema1, schema1Doc(f, threeEntries()...)},
		{MediaTypeDockerSchema1Signed, sign(f, schema1Doc(f, threeEntries()...), ecKey(f))},
		{"text/plain", []byte(`{"schemaVersion":2,"manifests":[],"layers":[]}`)},
		{"", []byte(`{"schemaVersion":1,"fsLayers":[{"blobSum":"sha256:x"}],"history":[{"v1Compatibility":"{}"}],"signatures":[{"protected":"e30"}]}`)},
	}
	for _, s := range seeds {
		f.Add(s.ct, s.body)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		p, err := Parse(ct, body)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a document and an error")
			}
			return
		}
		checkParsed(t, p)
		if len(body) > MaxSize {
			t.Fatalf("accepted %d bytes", len(body))
		}
		switch {
		case p.Image != nil:
			if err := validateDescriptor(p.Image.Config); err != nil || !IsConfig(p.Image.Config.MediaType) {
				t.Fatalf("accepted config %+v: %v", p.Image.Config, err)
			}
			for _, l := range p.Image.Layers {
				if _, err := compress.ForMediaType(l.MediaType); err != nil || validateDescriptor(l) != nil {
					t.Fatalf("accepted layer %+v", l)
				}
			}
		case p.Index != nil:
			for _, d := range p.Index.Manifests {
				if validateDescriptor(d) != nil {
					t.Fatalf("accepted index entry %+v", d)
				}
			}
			// Selection over any accepted index must not panic.
			_, _ = SelectManifest(p.Index, HostPlatform())
		case p.Schema1 != nil:
			layers, err := p.Schema1.Layers()
			if err != nil || len(layers) == 0 {
				t.Fatalf("accepted schema1 whose Layers fails: %v", err)
			}
			for _, l := range layers {
				if l.BlobSum.Validate() != nil {
					t.Fatalf("accepted blobSum %q", l.BlobSum)
				}
			}
			if _, err := Digest(p.MediaType, body); err != nil {
				t.Fatalf("Digest of accepted schema1: %v", err)
			}
			n := 0
			for _, l := range layers {
				if !l.Empty {
					n++
				}
			}
			diffIDs := make([]digest.Digest, n)
			for i := range diffIDs {
				diffIDs[i] = dg("d")
			}
			_, _ = Schema1Config(p.Schema1, diffIDs)
		}
	})
}

func FuzzVerifySchema1(f *testing.F) {
	payload := schema1Doc(f, threeEntries()...)
	f.Add(payload)
	f.Add(sign(f, payload, ecKey(f)))
	f.Add(sign(f, schema1Doc(f, v1Entry{name: "solo"}), ecKey(f), ecKey(f)))
	f.Add([]byte(`{"signatures":[{"header":{"alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"","y":""}},"signature":"","protected":"eyJmb3JtYXRMZW5ndGgiOjEsImZvcm1hdFRhaWwiOiJmUSJ9"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := VerifySchema1(body)
		if err != nil {
			return
		}
		d, err := Digest(MediaTypeDockerSchema1Signed, body)
		if err != nil {
			t.Fatalf("verified but Digest fails: %v", err)
		}
		if d != dgBytes(out) {
			t.Fatalf("Digest %s is not the digest of the verified payload", d)
		}
		jws, err := parseSchema1JWS(body)
		if err != nil || !bytes.Equal(jws.payload, out) {
			t.Fatalf("payload differs from the parsed one: %v", err)
		}
	})
}

func FuzzParsePlatform(f *testing.F) {
	for _, s := range []string{"linux/amd64", "linux/arm64/v8", "linux/armhf", "linux/arm/7", "macos/x86_64", "a/b/c/d", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePlatform(s)
		if err != nil {
			return
		}
		// Normalizing is idempotent: the formatted result parses to itself.
		again, err := ParsePlatform(FormatPlatform(p))
		if err != nil || again.OS != p.OS || again.Architecture != p.Architecture || again.Variant != p.Variant {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, p, FormatPlatform(p), again, err)
		}
		if score, ok := matchScore(p, p); !ok || score != 100 {
			t.Fatalf("%+v does not match itself exactly", p)
		}
		idx := &ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: dg("x"), Platform: &p}}}
		if _, err := SelectManifest(idx, p); err != nil {
			t.Fatalf("index of %+v does not serve %+v: %v", p, p, err)
		}
	})
}
