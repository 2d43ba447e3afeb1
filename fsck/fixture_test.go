package fsck

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
)

const (
	nameApp      = "example.com/app:1"
	nameMulti    = "example.com/multi:1"
	nameDock     = "docker.io/library/dock:latest"
	nameArtifact = "example.com/artifact:1"

	foreignLayerType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
)

// fixture is a store holding four images built by hand:
//
//   - app: an OCI manifest (configApp; layers shared, layerApp)
//   - multi: an OCI index of two platforms of which only amd64 (manifestAMD)
//     is stored, as a pull leaves it; that manifest has a foreign layer that
//     is absent, as a pull leaves it, besides shared and layerMulti
//   - dock: a Docker manifest entered through the OCI index imagec writes
//     for Docker media types (wrapper)
//   - artifact: a manifest whose config is not an image config, which
//     imagec does not interpret
type fixture struct {
	st *local.Store

	shared, layerApp, configApp, manifestApp     ocispec.Descriptor
	layerMulti, foreign, configAMD, manifestAMD  ocispec.Descriptor
	manifestARM, index                           ocispec.Descriptor
	layerDock, configDock, manifestDock, wrapper ocispec.Descriptor
	blobs                                        int // how many blobs are in the store
	names                                        []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st}
	f.shared = f.put(t, ocispec.MediaTypeImageLayerGzip, []byte("shared layer bytes"))
	f.layerApp = f.put(t, ocispec.MediaTypeImageLayerGzip, []byte("app layer bytes"))
	f.configApp = f.putJSON(t, ocispec.MediaTypeImageConfig, config("amd64", f.shared, f.layerApp))
	f.manifestApp = f.putJSON(t, ocispec.MediaTypeImageManifest, imageManifest(ocispec.MediaTypeImageManifest, f.configApp, f.shared, f.layerApp))
	f.name(t, nameApp, f.manifestApp)

	f.layerMulti = f.put(t, ocispec.MediaTypeImageLayerGzip, []byte("multi layer bytes"))
	f.foreign = describe(foreignLayerType, []byte("foreign layer, never fetched"))
	f.configAMD = f.putJSON(t, ocispec.MediaTypeImageConfig, config("amd64", f.shared, f.foreign, f.layerMulti))
	f.manifestAMD = f.putJSON(t, ocispec.MediaTypeImageManifest,
		imageManifest(ocispec.MediaTypeImageManifest, f.configAMD, f.shared, f.foreign, f.layerMulti))
	f.manifestARM = describe(ocispec.MediaTypeImageManifest, []byte(`{"not":"stored"}`))
	amd, arm := f.manifestAMD, f.manifestARM
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	f.index = f.putJSON(t, ocispec.MediaTypeImageIndex, imageIndex(amd, arm))
	f.name(t, nameMulti, f.index)

	f.layerDock = f.put(t, manifest.MediaTypeDockerLayer, []byte("docker layer bytes"))
	f.configDock = f.putJSON(t, manifest.MediaTypeDockerConfig, config("amd64", f.layerDock))
	f.manifestDock = f.putJSON(t, manifest.MediaTypeDockerManifest,
		imageManifest(manifest.MediaTypeDockerManifest, f.configDock, f.layerDock))
	child := f.manifestDock
	child.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	f.wrapper = f.putJSON(t, ocispec.MediaTypeImageIndex, imageIndex(child))
	entry := f.wrapper
	entry.Annotations = map[string]string{"io.imagec.source.digest": f.manifestDock.Digest.String()}
	f.name(t, nameDock, entry)

	artifactConfig := f.putJSON(t, "application/vnd.example.config+json", map[string]string{"kind": "artifact"})
	artifact := f.putJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    artifactConfig,
		Layers:    []ocispec.Descriptor{},
	})
	f.name(t, nameArtifact, artifact)
	return f
}

func describe(mediaType string, body []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}
}

func (f *fixture) put(t *testing.T, mediaType string, body []byte) ocispec.Descriptor {
	t.Helper()
	d := describe(mediaType, body)
	if err := f.st.WriteBlob(context.Background(), d, body); err != nil {
		t.Fatal(err)
	}
	f.blobs++
	return d
}

func (f *fixture) putJSON(t *testing.T, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return f.put(t, mediaType, b)
}

func (f *fixture) name(t *testing.T, name string, d ocispec.Descriptor) {
	t.Helper()
	if err := f.st.SetImage(context.Background(), name, d); err != nil {
		t.Fatal(err)
	}
	f.names = append(f.names, name)
}

func config(arch string, layers ...ocispec.Descriptor) ocispec.Image {
	c := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch}}
	c.RootFS.Type = "layers"
	for _, l := range layers {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, digest.FromString("diff of "+l.Digest.String()))
	}
	return c
}

func imageManifest(mediaType string, cfg ocispec.Descriptor, layers ...ocispec.Descriptor) ocispec.Manifest {
	return ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mediaType, Config: cfg, Layers: layers}
}

func imageIndex(children ...ocispec.Descriptor) ocispec.Index {
	return ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children}
}

// corrupt overwrites the first bytes of blob d in place, as a bad disk or a
// careless tool would. Committed blobs are read-only, hence the chmod.
func (f *fixture) corrupt(t *testing.T, d digest.Digest) {
	t.Helper()
	p := f.st.Path(d)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt([]byte("XX"), 0); err != nil {
		t.Fatal(err)
	}
}

// truncate cuts blob d to half its size.
func (f *fixture) truncate(t *testing.T, d ocispec.Descriptor) {
	t.Helper()
	p := f.st.Path(d.Digest)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, d.Size/2); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) remove(t *testing.T, d digest.Digest) {
	t.Helper()
	if err := os.Remove(f.st.Path(d)); err != nil {
		t.Fatal(err)
	}
}

// present reports which of names are still in index.json.
func (f *fixture) present(t *testing.T, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		_, err := f.st.Image(context.Background(), n)
		switch {
		case err == nil:
			out = append(out, n)
		case !errors.Is(err, errdefs.ErrNotFound):
			t.Fatal(err)
		}
	}
	return out
}

func (f *fixture) without(names ...string) []string {
	var out []string
	for _, n := range f.names {
		if !slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	return out
}

func blobExists(st *local.Store, d digest.Digest) bool {
	_, err := os.Lstat(st.Path(d))
	return err == nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func check(t *testing.T, st *local.Store, opts ...Option) *Report {
	t.Helper()
	r, err := Check(context.Background(), st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// summary lists the problems as "kind subject" lines, sorted, for comparing
// with what a test expects.
func summary(r *Report) []string {
	var out []string
	for _, p := range r.Problems {
		subject := string(p.Digest)
		switch p.Kind {
		case KindDanglingName, KindMisnamed:
			subject = p.Name
		case KindStrayFile:
			subject = p.Path
		}
		out = append(out, string(p.Kind)+" "+subject)
	}
	slices.Sort(out)
	return out
}

func want(lines ...string) []string {
	slices.Sort(lines)
	return lines
}

func line(k Kind, subject any) string {
	switch s := subject.(type) {
	case digest.Digest:
		return string(k) + " " + string(s)
	case string:
		return string(k) + " " + s
	}
	panic("subject must be a digest or a string")
}

// assertClean fails unless a fresh check of st finds nothing.
func assertClean(t *testing.T, st *local.Store) {
	t.Helper()
	if r := check(t, st); len(r.Problems) != 0 {
		t.Fatalf("store not clean: %v", summary(r))
	}
}

func blobsPath(st *local.Store, rel ...string) string {
	return filepath.Join(append([]string{st.Root(), blobsDir}, rel...)...)
}

// The layout's directories, as the tests tamper with them.
const (
	blobsDir  = "blobs"
	ingestDir = ".imagec/ingest"
	layersDir = ".imagec/layers"
)
