package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// fsckStore builds a store holding one image (manifest, config, one layer)
// and returns its root and the layer's digest.
func fsckStore(t *testing.T) (string, digest.Digest) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	st, err := local.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	put := func(mediaType string, body []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}
		if err := st.WriteBlob(ctx, d, body); err != nil {
			t.Fatal(err)
		}
		return d
	}
	layer := put(ocispec.MediaTypeImageLayerGzip, []byte("layer bytes"))
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("diff")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    put(ocispec.MediaTypeImageConfig, cfg),
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetImage(ctx, "example.com/app:1", put(ocispec.MediaTypeImageManifest, m)); err != nil {
		t.Fatal(err)
	}
	return root, layer.Digest
}

func TestFsckCorruptBlobThenRepair(t *testing.T) {
	t.Parallel()
	root, layer := fsckStore(t)
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	fsck := func(args ...string) clitest.Result {
		t.Helper()
		return clitest.Run(t, env, "", append([]string{"--root", root, "fsck"}, args...)...)
	}

	if res := fsck(); res.Code != 0 || res.Stdout != "checked 3 blobs, 1 image: 0 problems\n" || res.Stderr != "" {
		t.Fatalf("fsck of a clean store: %+v", res)
	}

	// Committed blobs are read-only; damage one as a failing disk would.
	p := root + "/blobs/sha256/" + layer.Encoded()
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("LAYER bytes"), 0o644); err != nil {
		t.Fatal(err)
	}

	res := fsck()
	lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	if res.Code != 1 || len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "corrupt-blob "+layer.String()+" : content (11 bytes) hashes to sha256:") ||
		!strings.HasPrefix(lines[1], "dangling-name example.com/app:1 : content incomplete: layer of manifest sha256:") ||
		lines[2] != "checked 3 blobs, 1 image: 2 problems" {
		t.Fatalf("fsck of a corrupt store: exit %d\n%s", res.Code, res.Stdout)
	}
	if res.Stderr != "imagec: store has 2 problems (run imagec fsck --repair)\n" {
		t.Fatalf("stderr %q", res.Stderr)
	}

	res = fsck("--format", "json")
	var rep struct {
		Blobs, Images int
		Problems      []struct{ Kind, Digest, Name string }
	}
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("--format json printed %q: %v", res.Stdout, err)
	}
	if res.Code != 1 || rep.Blobs != 3 || rep.Images != 1 || len(rep.Problems) != 2 ||
		rep.Problems[0].Kind != "corrupt-blob" || rep.Problems[0].Digest != layer.String() || rep.Problems[0].Name != "example.com/app:1" {
		t.Fatalf("fsck --format json: exit %d, %+v", res.Code, rep)
	}

	res = fsck("--repair")
	if res.Code != 0 || res.Stderr != "" ||
		!strings.Contains(res.Stdout, "repair: removed name example.com/app:1\n") ||
		!strings.Contains(res.Stdout, "repair: deleted corrupt blob "+layer.String()+"\n") ||
		!strings.HasSuffix(res.Stdout, "checked 3 blobs, 1 image: 2 problems repaired\n") {
		t.Fatalf("fsck --repair: %+v", res)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("corrupt blob still there: %v", err)
	}

	if res := fsck(); res.Code != 0 || res.Stdout != "checked 2 blobs, 0 images: 0 problems\n" {
		t.Fatalf("fsck after repair: %+v", res)
	}
}

func TestFsckRejectsUnknownFormat(t *testing.T) {
	t.Parallel()
	root, _ := fsckStore(t)
	res := clitest.Run(t, []string{"IMAGEC_ROOT="}, "", "--root", root, "fsck", "--format", "yaml")
	if res.Code != 1 || !strings.Contains(res.Stderr, `unknown --format "yaml"`) {
		t.Fatalf("fsck --format yaml: %+v", res)
	}
}

// A partial download (what a kill -9 leaves) is resumable, not damage:
// fsck lists it and exits 0.
func TestFsckPartialDownloadIsNotAProblem(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	mustRun(t, env, "--root", root, "pull", reg.Host+"/"+testregistry.SampleHello)
	partial := filepath.Join(root, ".imagec", "ingest", "sha256-"+strings.Repeat("cd", 32))
	if err := os.MkdirAll(partial, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "data"), []byte("part of a layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := run(t, env, "--root", root, "fsck")
	if res.Code != 0 || !strings.Contains(res.Stdout, "resumable: stale-ingest") ||
		!strings.Contains(res.Stdout, "0 problems, 1 partial download (a later pull resumes it)") {
		t.Fatalf("fsck exit %d:\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
}
