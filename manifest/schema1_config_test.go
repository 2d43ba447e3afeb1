package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	digest "github.com/opencontainers/go-digest"
)

func TestSchema1Layers(t *testing.T) {
	t.Parallel()
	dup := v1Entry{name: "top", parent: "base", cmd: []string{"true"}}
	tests := []struct {
		name    string
		doc     Schema1
		want    []Schema1Layer
		wantMsg string
	}{
		{name: "three entries with a throwaway", doc: decodeSchema1(t, schema1Doc(t, threeEntries()...)), want: []Schema1Layer{
			{BlobSum: dg("blob-base")}, {BlobSum: emptyTarGz, Empty: true}, {BlobSum: dg("blob-top")},
		}},
		{name: "single base layer", doc: decodeSchema1(t, schema1Doc(t, v1Entry{name: "base"})), want: []Schema1Layer{{BlobSum: dg("blob-base")}}},
		{name: "consecutive duplicates collapse to the lower", doc: decodeSchema1(t, schema1Doc(t,
			v1Entry{name: "top", parent: "base", blob: dg("upper")}, dup, v1Entry{name: "base"})),
			want: []Schema1Layer{{BlobSum: dg("blob-base")}, {BlobSum: dg("blob-top")}}},
		{name: "separated duplicates", doc: decodeSchema1(t, schema1Doc(t,
			v1Entry{name: "a", parent: "b"}, v1Entry{name: "b", parent: "a"}, v1Entry{name: "a"})), wantMsg: "more than once"},
		{name: "broken parent chain", doc: decodeSchema1(t, schema1Doc(t, v1Entry{name: "a", parent: "x"}, v1Entry{name: "b"})), wantMsg: "parent"},
		{name: "base has a parent", doc: decodeSchema1(t, schema1Doc(t, v1Entry{name: "a", parent: "b"})), wantMsg: "base layer has parent"},
		{name: "bad blobSum", doc: decodeSchema1(t, schema1Doc(t, v1Entry{name: "a", blob: "sha256:xyz"})), wantMsg: "blobSum"},
		{name: "invalid v1 id", doc: Schema1{SchemaVersion: 1, FSLayers: []Schema1FSLayer{{BlobSum: dg("x")}},
			History: []Schema1History{{V1Compatibility: `{"id":"ABC"}`}}}, wantMsg: "invalid v1 image id"},
		{name: "v1Compatibility not json", doc: Schema1{SchemaVersion: 1, FSLayers: []Schema1FSLayer{{BlobSum: dg("x")}},
			History: []Schema1History{{V1Compatibility: `{`}}}, wantMsg: "decode v1Compatibility"},
		{name: "bad throwaway type", doc: Schema1{SchemaVersion: 1, FSLayers: []Schema1FSLayer{{BlobSum: dg("x")}},
			History: []Schema1History{{V1Compatibility: `{"id":"` + v1ID("x") + `","throwaway":"yes"}`}}}, wantMsg: "decode v1Compatibility"},
		{name: "length mismatch", doc: Schema1{SchemaVersion: 1, FSLayers: []Schema1FSLayer{{BlobSum: dg("x")}}}, wantMsg: "1 fsLayers but 0 history"},
		{name: "no layers", doc: Schema1{SchemaVersion: 1}, wantMsg: "no layers"},
		{name: "wrong schema version", doc: Schema1{SchemaVersion: 2}, wantMsg: "schemaVersion 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.doc.Layers()
			if tt.wantMsg != "" {
				if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("Layers error = %v, want ErrInvalidArgument mentioning %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Layers = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("layer %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func decodeSchema1(t testing.TB, b []byte) Schema1 {
	t.Helper()
	var s Schema1
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// realistic is a three entry history as a docker 1.9 push wrote it, top
// first: the top entry carries the image config (with v1-only keys, HTML
// characters and loose whitespace), the middle one is a throwaway ENV with a
// string Cmd, the bottom one is the base layer.
func realistic() *Schema1 {
	a, b, c := v1ID("base"), v1ID("env"), v1ID("top")
	return &Schema1{
		SchemaVersion: 1, Name: "library/app", Tag: "1", Architecture: "amd64",
		FSLayers: []Schema1FSLayer{{BlobSum: dg("blob-top")}, {BlobSum: emptyTarGz}, {BlobSum: dg("blob-base")}},
		History: []Schema1History{
			{V1Compatibility: `{ "id": "` + c + `", "parent": "` + b + `", "created": "2015-11-04T23:06:32.365660000+01:00",
 "container": "3f2a", "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"]}, "docker_version": "1.9.1",
 "author": "Alyssa <alyssa@example.com>", "comment": "a & b", "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]},
 "architecture": "amd64", "os": "linux", "Size": 0, "parent_id": "sha256:` + b + `", "layer_id": "sha256:` + c + `" }`},
			{V1Compatibility: `{"id":"` + b + `","parent":"` + a + `","created":"2015-11-04T23:06:31.192097572Z","container_config":{"Cmd":"/bin/sh -c #(nop) ENV X=1"},"throwaway":true}`},
			{V1Compatibility: `{"id":"` + a + `","created":"2015-11-04T23:06:30.934316144Z","container_config":{"Cmd":["/bin/sh","-c","#(nop) ADD file:a3bc in /"]},"Size":1024}`},
		},
	}
}

func TestSchema1Config(t *testing.T) {
	t.Parallel()
	diffIDs := []digest.Digest{dg("diff-base"), dg("diff-top")}
	got, err := Schema1Config(realistic(), diffIDs)
	if err != nil {
		t.Fatal(err)
	}
	// Written out by hand from docker's algorithm: sorted keys, compact,
	// HTML-escaped; "created" of the config kept verbatim while the history's
	// is re-marshalled as RFC 3339 with trailing zeros dropped.
	want := `{"architecture":"amd64","author":"Alyssa \u003calyssa@example.com\u003e","comment":"a \u0026 b",` +
		`"config":{"Cmd":["sh"],"Env":["PATH=/usr/bin:/bin"]},"container":"3f2a",` +
		`"container_config":{"Cmd":["/bin/sh","-c","#(nop) CMD [\"sh\"]"]},"created":"2015-11-04T23:06:32.365660000+01:00",` +
		`"docker_version":"1.9.1","history":[` +
		`{"created":"2015-11-04T23:06:30.934316144Z","created_by":"/bin/sh -c #(nop) ADD file:a3bc in /"},` +
		`{"created":"2015-11-04T23:06:31.192097572Z","created_by":"/bin/sh -c #(nop) ENV X=1","empty_layer":true},` +
		`{"created":"2015-11-04T23:06:32.36566+01:00","author":"Alyssa \u003calyssa@example.com\u003e","created_by":"/bin/sh -c #(nop) CMD [\"sh\"]","comment":"a \u0026 b"}],` +
		`"os":"linux","rootfs":{"type":"layers","diff_ids":["` + string(diffIDs[0]) + `","` + string(diffIDs[1]) + `"]}}`
	if string(got) != want {
		t.Errorf("config:\n got %s\nwant %s", got, want)
	}

	var m map[string]json.RawMessage
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range v1OnlyKeys {
		if _, ok := m[k]; ok {
			t.Errorf("key %q kept", k)
		}
	}
	// Same input, same bytes, same image ID.
	again, err := Schema1Config(realistic(), diffIDs)
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("second build differs: %v", err)
	}
}

func TestSchema1ConfigDuplicatesAndErrors(t *testing.T) {
	t.Parallel()
	s := realistic()
	// Repeat the top entry, as some old pushes did, with a different blob:
	// docker keeps the lower copy.
	s.FSLayers = append([]Schema1FSLayer{{BlobSum: dg("repeat")}}, s.FSLayers...)
	s.History = append([]Schema1History{{V1Compatibility: strings.Replace(s.History[0].V1Compatibility, "a & b", "upper copy", 1)}}, s.History...)
	layers, err := s.Layers()
	if err != nil || len(layers) != 3 || layers[2].BlobSum != dg("blob-top") {
		t.Fatalf("Layers = %+v, %v", layers, err)
	}
	cfg, err := Schema1Config(s, []digest.Digest{dg("d1"), dg("d2")})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), "upper copy") || strings.Count(string(cfg), `"created_by"`) != 3 {
		t.Errorf("duplicate entry not collapsed: %s", cfg)
	}
	if len(s.FSLayers) != 4 {
		t.Errorf("Layers modified the manifest")
	}

	for _, tt := range []struct {
		name    string
		diffIDs []digest.Digest
	}{
		{"too few diff IDs", []digest.Digest{dg("d1")}},
		{"too many diff IDs", []digest.Digest{dg("d1"), dg("d2"), dg("d3")}},
		{"invalid diff ID", []digest.Digest{dg("d1"), "sha256:nope"}},
	} {
		if _, err := Schema1Config(realistic(), tt.diffIDs); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: error = %v, want ErrInvalidArgument", tt.name, err)
		}
	}
}

func TestSchema1ConfigAllThrowaway(t *testing.T) {
	t.Parallel()
	s := &Schema1{SchemaVersion: 1, FSLayers: []Schema1FSLayer{{BlobSum: emptyTarGz}},
		History: []Schema1History{{V1Compatibility: `{"id":"` + v1ID("x") + `","throwaway":true}`}}}
	cfg, err := Schema1Config(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// No created time in the v1 JSON: docker wrote the zero time; no layers:
	// docker's rootfs had no diff_ids at all.
	want := `{"history":[{"created":"0001-01-01T00:00:00Z","empty_layer":true}],"rootfs":{"type":"layers"}}`
	if string(cfg) != want {
		t.Errorf("config = %s, want %s", cfg, want)
	}
}
