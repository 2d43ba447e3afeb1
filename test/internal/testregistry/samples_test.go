package testregistry

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestSeedSamples(t *testing.T) {
	t.Parallel()
	r := Start(t)
	got, err := SeedSamples(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	hc := plainClient(r)
	manifests := map[string]ocispec.Manifest{}
	for _, ref := range []string{SampleHello, SampleOCI, SampleMulti, SampleZstd, SampleForeign} {
		want, ok := got[r.Host+"/"+ref]
		if !ok {
			t.Fatalf("SeedSamples did not report %s: %v", ref, got)
		}
		repo, tag := splitRepoTag(ref)
		status, hdr, body := fetch(t, hc, r.URL+"/v2/"+repo+"/manifests/"+tag, acceptAll, nil)
		if status != http.StatusOK || digest.FromBytes(body) != want || hdr.Get("Docker-Content-Digest") != want.String() {
			t.Errorf("%s: status %d, digest %s, want %s", ref, status, digest.FromBytes(body), want)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		manifests[ref] = m
	}
	if len(got) != 5 {
		t.Errorf("SeedSamples reported %d references, want 5", len(got))
	}

	if m := manifests[SampleHello]; m.MediaType != fixtures.MediaTypeDockerManifest || len(m.Layers) != 3 {
		t.Errorf("hello: %s with %d layers", m.MediaType, len(m.Layers))
	}
	if m := manifests[SampleOCI]; m.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("oci: %s", m.MediaType)
	}

	t.Run("zstd layers start with the zstd magic", func(t *testing.T) {
		for _, l := range manifests[SampleZstd].Layers {
			status, _, blob := fetch(t, hc, r.URL+"/v2/samples/zstd/blobs/"+l.Digest.String(), "", nil)
			if status != http.StatusOK || l.MediaType != ocispec.MediaTypeImageLayerZstd || !bytes.HasPrefix(blob, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
				t.Errorf("layer %s (%s): status %d, starts % x", l.Digest, l.MediaType, status, blob[:min(4, len(blob))])
			}
		}
	})

	t.Run("foreign layer is not pushed", func(t *testing.T) {
		layers := manifests[SampleForeign].Layers
		last := layers[len(layers)-1]
		if last.MediaType != fixtures.MediaTypeDockerForeignLayer || len(last.URLs) != 1 {
			t.Fatalf("last layer %+v", last)
		}
		status, _, _ := fetch(t, hc, r.URL+"/v2/samples/foreign/blobs/"+last.Digest.String(), "", nil)
		if status != http.StatusNotFound {
			t.Errorf("foreign blob: status %d, want 404", status)
		}
		status, _, _ = fetch(t, hc, r.URL+"/v2/samples/foreign/blobs/"+layers[0].Digest.String(), "", nil)
		if status != http.StatusOK {
			t.Errorf("regular blob: status %d, want 200", status)
		}
	})

	t.Run("index lists platforms and an attestation", func(t *testing.T) {
		_, _, body := fetch(t, hc, r.URL+"/v2/samples/multi/manifests/latest", acceptAll, nil)
		var idx ocispec.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			t.Fatal(err)
		}
		if idx.MediaType != ocispec.MediaTypeImageIndex || len(idx.Manifests) != len(SampleMultiPlatforms)+1 {
			t.Fatalf("index %s with %d entries", idx.MediaType, len(idx.Manifests))
		}
		for i, p := range SampleMultiPlatforms {
			d := idx.Manifests[i]
			if d.Platform == nil || d.Platform.OS != p.OS || d.Platform.Architecture != p.Architecture || d.Platform.Variant != p.Variant {
				t.Errorf("entry %d platform %+v, want %+v", i, d.Platform, p)
			}
			status, _, _ := fetch(t, hc, r.URL+"/v2/samples/multi/manifests/"+d.Digest.String(), acceptAll, nil)
			if status != http.StatusOK {
				t.Errorf("child %s: status %d", d.Digest, status)
			}
		}
		att := idx.Manifests[len(idx.Manifests)-1]
		if att.Platform == nil || att.Platform.OS != "unknown" || att.Annotations[fixtures.AnnotationReferenceType] != fixtures.ReferenceTypeAttestation ||
			att.Annotations[fixtures.AnnotationReferenceDigest] != idx.Manifests[0].Digest.String() {
			t.Errorf("attestation entry %+v", att)
		}
		status, _, _ := fetch(t, hc, r.URL+"/v2/samples/multi/manifests/"+att.Digest.String(), acceptAll, nil)
		if status != http.StatusOK {
			t.Errorf("attestation manifest: status %d", status)
		}
	})
}

func TestDockerManifestList(t *testing.T) {
	t.Parallel()
	r := Start(t)
	a, err := fixtures.NewImage(11, 1, 512, fixtures.Docker, fixtures.Gzip, amd64)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fixtures.NewImage(12, 1, 512, fixtures.Docker, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := fixtures.NewIndex(fixtures.Docker, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Attestations) != 0 {
		t.Errorf("docker list got %d attestations", len(idx.Attestations))
	}
	if err := r.PushIndex(t.Context(), "lists/x", "1", idx); err != nil {
		t.Fatal(err)
	}
	status, hdr, _ := fetch(t, plainClient(r), r.URL+"/v2/lists/x/manifests/1", acceptAll, nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != fixtures.MediaTypeDockerManifestList || hdr.Get("Docker-Content-Digest") != idx.Desc.Digest.String() {
		t.Errorf("list: status %d type %s digest %s", status, hdr.Get("Content-Type"), hdr.Get("Docker-Content-Digest"))
	}
}
