package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParse(t *testing.T) {
	t.Parallel()
	ociImage := imageManifest(t, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig,
		ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayer)
	dockerImage := imageManifest(t, MediaTypeDockerManifest, MediaTypeDockerConfig,
		MediaTypeDockerLayer, MediaTypeDockerForeignLayer)
	bareImage := imageManifest(t, "", ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayerGzip)
	amd64 := desc(ocispec.MediaTypeImageManifest, "amd64", 500)
	amd64.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	ociIndex := indexDoc(t, ocispec.MediaTypeImageIndex, amd64)
	dockerList := indexDoc(t, MediaTypeDockerManifestList, amd64)
	bareIndex := indexDoc(t, "", amd64)
	schema1 := schema1Doc(t, threeEntries()...)

	badDigest := func(doc []byte, from string) []byte {
		return []byte(strings.Replace(string(doc), string(dg(from)), "sha256:1234", 1))
	}
	tooLarge := append(append([]byte(`{"schemaVersion":2,"x":"`), make([]byte, MaxSize)...), `"}`...)

	tests := []struct {
		name        string
		contentType string
		body        []byte
		wantType    string
		wantErr     error
		wantMsg     string
	}{
		{"oci manifest", ocispec.MediaTypeImageManifest, ociImage, ocispec.MediaTypeImageManifest, nil, ""},
		{"docker manifest", MediaTypeDockerManifest, dockerImage, MediaTypeDockerManifest, nil, ""},
		{"oci index", ocispec.MediaTypeImageIndex, ociIndex, ocispec.MediaTypeImageIndex, nil, ""},
		{"docker list", MediaTypeDockerManifestList, dockerList, MediaTypeDockerManifestList, nil, ""},
		{"schema1 unsigned", MediaTypeDockerSchema1, schema1, MediaTypeDockerSchema1, nil, ""},
		{"content type with parameters and case", "Application/VND.oci.image.manifest.v1+json; charset=utf-8", ociImage, ocispec.MediaTypeImageManifest, nil, ""},
		{"bare oci manifest served as oci", ocispec.MediaTypeImageManifest, bareImage, ocispec.MediaTypeImageManifest, nil, ""},

		{"json with body media type", "application/json; charset=utf-8", dockerImage, MediaTypeDockerManifest, nil, ""},
		{"empty content type, docker list", "", dockerList, MediaTypeDockerManifestList, nil, ""},
		{"text/plain, oci index", "text/plain", ociIndex, ocispec.MediaTypeImageIndex, nil, ""},
		{"octet-stream, bare index", "application/octet-stream", bareIndex, ocispec.MediaTypeImageIndex, nil, ""},
		{"json, bare manifest", "application/json", bareImage, ocispec.MediaTypeImageManifest, nil, ""},
		{"json, schema1", "application/json", schema1, MediaTypeDockerSchema1, nil, ""},

		{"contradicting media type", MediaTypeDockerManifest, ociImage, "", errdefs.ErrInvalidArgument, "declares mediaType"},
		{"index served as manifest", ocispec.MediaTypeImageManifest, ociIndex, "", errdefs.ErrInvalidArgument, "declares mediaType"},
		{"bare manifest served as index", ocispec.MediaTypeImageIndex, bareImage, "", errdefs.ErrInvalidArgument, "no manifests"},
		{"bare index served as manifest", ocispec.MediaTypeImageManifest, bareIndex, "", errdefs.ErrInvalidArgument, "no config"},
		{"ambiguous manifests and layers", "", []byte(`{"schemaVersion":2,"manifests":[],"layers":[]}`), "", errdefs.ErrInvalidArgument, "ambiguous"},
		{"ambiguous manifests and config", ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[],"config":{}}`), "", errdefs.ErrInvalidArgument, "ambiguous"},
		{"ambiguity seen case-insensitively", "", []byte(`{"schemaVersion":2,"Manifests":[],"LAYERS":[]}`), "", errdefs.ErrInvalidArgument, "ambiguous"},
		{"unknown content type", "application/vnd.example.thing+json", ociImage, "", errdefs.ErrUnsupported, "application/vnd.example.thing+json"},
		{"unknown body media type", "application/json", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.example+json"}`), "", errdefs.ErrUnsupported, "application/vnd.example+json"},
		{"undecidable", "application/json", []byte(`{"schemaVersion":2}`), "", errdefs.ErrInvalidArgument, "cannot tell"},
		{"not json", ocispec.MediaTypeImageManifest, []byte("<html>"), "", errdefs.ErrInvalidArgument, "decode"},
		{"json array", "", []byte("[]"), "", errdefs.ErrInvalidArgument, "decode"},
		{"wrong schema version", "", []byte(`{"schemaVersion":3,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[]}`), "", errdefs.ErrInvalidArgument, "schemaVersion 3"},
		{"bad layer digest", "", badDigest(ociImage, "layer1"), "", errdefs.ErrInvalidArgument, "layers[1]"},
		{"bad config digest", "", badDigest(ociImage, "config"), "", errdefs.ErrInvalidArgument, "config"},
		{"bad index digest", "", badDigest(ociIndex, "amd64"), "", errdefs.ErrInvalidArgument, "manifests[0]"},
		{"negative size", "", []byte(strings.Replace(string(ociImage), `"size":1234`, `"size":-1`, 1)), "", errdefs.ErrInvalidArgument, "negative size"},
		{"artifact config", "", imageManifest(t, ocispec.MediaTypeImageManifest, ocispec.MediaTypeEmptyJSON, ocispec.MediaTypeImageLayer), "", errdefs.ErrUnsupported, "not a container image: config media type \"application/vnd.oci.empty.v1+json\""},
		{"helm chart", "", imageManifest(t, ocispec.MediaTypeImageManifest, "application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.chart.content.v1.tar+gzip"), "", errdefs.ErrUnsupported, "not a container image"},
		{"encrypted layer", "", imageManifest(t, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"), "", errdefs.ErrUnsupported, "layers[0]"},
		{"too large", "", tooLarge, "", errdefs.ErrTooLarge, "exceeds"},
		{"config too large", "", []byte(strings.Replace(string(ociImage), `"size":1234`, `"size":4194305`, 1)), "", errdefs.ErrTooLarge, "config"},
		{"schema1 without layers", "", []byte(`{"schemaVersion":1,"name":"x"}`), "", errdefs.ErrInvalidArgument, "fsLayers"},
		{"schema1 bad chain", MediaTypeDockerSchema1, schema1Doc(t, v1Entry{name: "a", parent: "x"}, v1Entry{name: "b"}), "", errdefs.ErrInvalidArgument, "parent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tt.contentType, tt.body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Parse error %q does not mention %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.MediaType != tt.wantType {
				t.Errorf("MediaType = %q, want %q", p.MediaType, tt.wantType)
			}
			checkParsed(t, p)
		})
	}
}

// checkParsed asserts that exactly the field matching MediaType is set.
func checkParsed(t testing.TB, p *Parsed) {
	t.Helper()
	set := 0
	for _, ok := range []bool{p.Image != nil, p.Index != nil, p.Schema1 != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		t.Fatalf("%d of Image, Index, Schema1 set", set)
	}
	switch {
	case IsImage(p.MediaType) && p.Image == nil,
		IsIndex(p.MediaType) && p.Index == nil,
		IsSchema1(p.MediaType) && p.Schema1 == nil,
		!IsImage(p.MediaType) && !IsIndex(p.MediaType) && !IsSchema1(p.MediaType):
		t.Fatalf("media type %q does not match the decoded document", p.MediaType)
	}
}

func TestParseDecodesContent(t *testing.T) {
	t.Parallel()
	body := imageManifest(t, MediaTypeDockerManifest, MediaTypeDockerConfig, MediaTypeDockerLayer, MediaTypeDockerLayer)
	p, err := Parse(MediaTypeDockerManifest, body)
	if err != nil {
		t.Fatal(err)
	}
	if p.Image.Config.Digest != dg("config") || p.Image.Config.Size != 1234 {
		t.Errorf("config = %+v", p.Image.Config)
	}
	if len(p.Image.Layers) != 2 || p.Image.Layers[1].Digest != dg("layer1") || p.Image.Layers[1].Size != 1001 {
		t.Errorf("layers = %+v", p.Image.Layers)
	}

	arm := desc(MediaTypeDockerManifest, "arm", 7)
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	p, err = Parse("", indexDoc(t, MediaTypeDockerManifestList, arm))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Index.Manifests) != 1 || p.Index.Manifests[0].Platform.Variant != "v7" || p.Index.Manifests[0].Digest != dg("arm") {
		t.Errorf("index = %+v", p.Index)
	}
}

func TestParseEmbeddedData(t *testing.T) {
	t.Parallel()
	data := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	good := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: dgBytes(data), Size: int64(len(data)), Data: data}
	wrongSize := good
	wrongSize.Size++
	wrongDigest := good
	wrongDigest.Digest = dg("other")
	for _, tt := range []struct {
		name string
		cfg  ocispec.Descriptor
		ok   bool
	}{
		{"matching data", good, true},
		{"size mismatch", wrongSize, false},
		{"digest mismatch", wrongDigest, false},
	} {
		body := mustJSON(t, ocispec.Manifest{
			Versioned: ocispecVersioned(), MediaType: ocispec.MediaTypeImageManifest, Config: tt.cfg,
			Layers: []ocispec.Descriptor{},
		})
		_, err := Parse("", body)
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", tt.name, err)
		}
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	body := imageManifest(t, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig)
	got, err := Digest(ocispec.MediaTypeImageManifest, body)
	if err != nil || got != dgBytes(body) {
		t.Errorf("Digest = %s, %v; want sha256 of body %s", got, err, dgBytes(body))
	}
	// Unsigned schema 1: nothing to strip.
	s1 := schema1Doc(t, threeEntries()...)
	got, err = Digest(MediaTypeDockerSchema1, s1)
	if err != nil || got != dgBytes(s1) {
		t.Errorf("unsigned schema1 Digest = %s, %v; want %s", got, err, dgBytes(s1))
	}
	if _, err := Digest(MediaTypeDockerSchema1Signed, []byte("nope")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Digest of garbage schema1 error = %v, want ErrInvalidArgument", err)
	}
}

func TestParseRoundTripJSON(t *testing.T) {
	t.Parallel()
	// A parsed image re-encodes to a document Parse accepts again.
	p, err := Parse(ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayerGzip))
	if err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(p.Image)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(ocispec.MediaTypeImageManifest, again); err != nil {
		t.Errorf("re-encoded manifest rejected: %v", err)
	}
}
