package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
)

// memory is a content.Provider over a map, for walking hand-made graphs.
type memory map[digest.Digest][]byte

func (m memory) put(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	m[d] = b
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func (m memory) putJSON(t *testing.T, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return m.put(mediaType, b)
}

func (m memory) Info(_ context.Context, d digest.Digest) (int64, error) {
	b, ok := m[d]
	if !ok {
		return 0, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return int64(len(b)), nil
}

func (m memory) Has(ctx context.Context, desc ocispec.Descriptor) bool {
	n, err := m.Info(ctx, desc.Digest)
	return err == nil && n == desc.Size
}

type reader struct{ *bytes.Reader }

func (reader) Close() error                              { return nil }
func (r reader) Size() int64                             { return r.Reader.Size() }
func (r reader) ReadAt(p []byte, off int64) (int, error) { return r.Reader.ReadAt(p, off) }

func (m memory) Open(_ context.Context, d digest.Digest) (content.Reader, error) {
	b, ok := m[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return reader{bytes.NewReader(b)}, nil
}

func (m memory) ReadBlob(_ context.Context, d digest.Digest, max int64) ([]byte, error) {
	b, ok := m[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	if int64(len(b)) > max {
		return nil, errdefs.ErrTooLarge
	}
	if digest.FromBytes(b) != d {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrDigestMismatch)
	}
	return b, nil
}

var _ io.ReaderAt = reader{}

// image stores a small image and returns its manifest's descriptor.
func image(t *testing.T, m memory, seed string, layers ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	cfg := m.putJSON(t, ocispec.MediaTypeImageConfig, ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: seed}})
	if layers == nil {
		layers = []ocispec.Descriptor{m.put(ocispec.MediaTypeImageLayerGzip, []byte("layer "+seed))}
	}
	return m.putJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
}

func index(t *testing.T, m memory, annotations map[string]string, children ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	return m.putJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex, Manifests: children, Annotations: annotations})
}

// trace walks root and lists "depth role digest-prefix present" lines.
func trace(t *testing.T, p content.Provider, root ocispec.Descriptor) []string {
	t.Helper()
	var out []string
	err := Walk(context.Background(), p, root, func(_ context.Context, n Node) (bool, error) {
		out = append(out, fmt.Sprintf("%d %s %s %v", n.Depth, n.Role, n.Desc.Digest.Encoded()[:6], n.Present()))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func line(depth int, role Role, d ocispec.Descriptor, present bool) string {
	return fmt.Sprintf("%d %s %s %v", depth, role, d.Digest.Encoded()[:6], present)
}

func TestWalkVisitsTheGraphOnceInOrder(t *testing.T) {
	t.Parallel()
	m := memory{}
	shared := m.put(ocispec.MediaTypeImageLayerGzip, []byte("shared"))
	amd := image(t, m, "amd64", shared)
	arm := image(t, m, "arm64", shared)
	absent := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("not pulled"), Size: 9}
	idx := index(t, m, nil, amd, arm, absent)
	var amdM, armM ocispec.Manifest
	json.Unmarshal(m[amd.Digest], &amdM)
	json.Unmarshal(m[arm.Digest], &armM)
	want := []string{
		line(0, RoleRoot, idx, true),
		line(1, RoleManifest, amd, true), line(2, RoleConfig, amdM.Config, true), line(2, RoleLayer, shared, true),
		line(1, RoleManifest, arm, true), line(2, RoleConfig, armM.Config, true), // the shared layer only once
		line(1, RoleManifest, absent, false),
	}
	if got := trace(t, m, idx); !slices.Equal(got, want) {
		t.Fatalf("walk:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWalkFollowsWrapperSourceAndArtifacts(t *testing.T) {
	t.Parallel()
	m := memory{}
	img := image(t, m, "amd64")
	list := index(t, m, nil, img)
	wrapper := index(t, m, map[string]string{AnnotationSourceBlob: list.Digest.String()}, img)
	// An artifact: a manifest whose config is not an image config.
	blob := m.put("application/vnd.example.data", []byte("data"))
	acfg := m.put("application/vnd.example.config+json", []byte("{}"))
	art := m.putJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest, Config: acfg, Layers: []ocispec.Descriptor{blob}})
	root := index(t, m, nil, wrapper, art)
	var seen []digest.Digest
	var artifact bool
	err := Walk(context.Background(), m, root, func(_ context.Context, n Node) (bool, error) {
		seen = append(seen, n.Desc.Digest)
		if n.Desc.Digest == art.Digest {
			artifact = n.IsArtifact()
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocispec.Descriptor{list, blob, acfg} {
		if !slices.Contains(seen, d.Digest) {
			t.Errorf("%s not reached", d.Digest)
		}
	}
	if !artifact {
		t.Error("the artifact manifest is not marked as one")
	}
}

func TestWalkReportsBadDocumentsAndDepth(t *testing.T) {
	t.Parallel()
	m := memory{}
	garbage := m.put(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":7}`))
	deep := image(t, m, "amd64")
	for range MaxDepth + 1 {
		deep = index(t, m, nil, deep)
	}
	for name, tc := range map[string]struct {
		root ocispec.Descriptor
		want error
	}{
		"does not parse": {garbage, errdefs.ErrInvalidArgument},
		"too deep":       {deep, errdefs.ErrUnsupported},
	} {
		var bad error
		err := Walk(context.Background(), m, tc.root, func(_ context.Context, n Node) (bool, error) {
			if n.Err != nil {
				bad = n.Err
			}
			return true, nil
		})
		if err != nil || !errors.Is(bad, tc.want) {
			t.Errorf("%s: walk %v, node error %v; want a node error wrapping %v", name, err, bad, tc.want)
		}
	}
}

func TestWalkStopsOnVisitError(t *testing.T) {
	t.Parallel()
	m := memory{}
	root := index(t, m, nil, image(t, m, "amd64"))
	stop := errors.New("stop")
	n := 0
	err := Walk(context.Background(), m, root, func(context.Context, Node) (bool, error) {
		n++
		return true, stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("walk = %v after %d visits", err, n)
	}
}

func TestSchema1LayersHaveUnknownSize(t *testing.T) {
	t.Parallel()
	doc := &manifest.Parsed{Schema1: &manifest.Schema1{FSLayers: []manifest.Schema1FSLayer{{BlobSum: digest.FromString("l")}}}}
	kids := Children(doc)
	if len(kids) != 1 || kids[0].Desc.Size != UnknownSize || kids[0].Role != RoleLayer {
		t.Fatalf("children %+v", kids)
	}
	if !(Node{Desc: kids[0].Desc, Stored: 123}).Present() {
		t.Error("a stored layer of unknown size is not present")
	}
}
