package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// hostileConfigImage is a fixture whose config carries hostile text where
// `layers` and `inspect` show it.
func hostileConfigImage(t *testing.T) *fixtures.Image {
	t.Helper()
	img, err := fixtures.NewImage(72, 2, 256, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.History[0].CreatedBy = hostile + " /bin/sh -c evil"
	cfg.Author = hostile
	cfg.Config.Labels["evil"] = hostile
	img.Config, _ = json.Marshal(cfg)
	img.ConfigDesc.Digest, img.ConfigDesc.Size = digest.FromBytes(img.Config), int64(len(img.Config))
	var m ocispec.Manifest
	if err := json.Unmarshal(img.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Config = img.ConfigDesc
	img.Manifest, _ = json.Marshal(m)
	img.ManifestDesc.Digest, img.ManifestDesc.Size = digest.FromBytes(img.Manifest), int64(len(img.Manifest))
	return img
}

// addForeignNames records, as another tool writing the OCI layout might,
// a hostile name (with a hostile repo digest annotation) for the store's
// first image, and a hostile name for a manifest the store lacks.
func addForeignNames(t *testing.T, root string) {
	t.Helper()
	path := filepath.Join(root, "index.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) == 0 {
		t.Fatalf("index.json: %v %s", err, b)
	}
	named := idx.Manifests[0]
	named.Annotations = map[string]string{
		ocispec.AnnotationRefName: "registry.example/evil" + hostile + ":latest",
		"io.imagec.source.digest": "sha256:" + hostile,
	}
	gone := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("gone"), Size: 4,
		Annotations: map[string]string{ocispec.AnnotationRefName: "registry.example/gone" + hostile + ":latest"}}
	idx.Manifests = append(idx.Manifests, named, gone)
	if b, err = json.Marshal(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStoredTextIsEscaped(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	img := hostileConfigImage(t)
	if err := reg.Push(context.Background(), "hostile/config", "latest", img); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/hostile/config:latest"
	root, env := t.TempDir(), []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	pullOutputs(t, env, ref, 0)
	mustRun(t, env, "--root", root, "pull", ref)
	addForeignNames(t, root)

	shown, stdout := map[string]string{}, map[string]string{}
	for _, args := range [][]string{
		{"images"}, {"images", "--digests"}, {"images", "--format", "json"},
		{"layers", ref}, {"inspect", ref}, {"fsck"}, {"fsck", "--format", "json"},
	} {
		res := run(t, env, append([]string{"--root", root}, args...)...)
		what := strings.Join(args, " ")
		assertInert(t, what+" stdout", res.Stdout, false)
		assertInert(t, what+" stderr", res.Stderr, false)
		shown[what], stdout[what] = res.Stdout+res.Stderr, res.Stdout
	}
	for what, want := range map[string]string{
		"images":           "registry.example/evil" + hostileShown,
		"images --digests": "registry.example/evil" + hostileShown,
		"layers " + ref:    hostileShown + " /bin/sh",
	} {
		if !strings.Contains(shown[what], want) {
			t.Errorf("%s does not show %q escaped:\n%s", what, want, shown[what])
		}
	}
	// The forged source-digest annotation is not the image's digest.
	if strings.Contains(shown["images --digests"], "sha256:"+hostileShown) {
		t.Errorf("images --digests shows an annotation as the digest:\n%s", shown["images --digests"])
	}
	// Machine-readable output keeps the values, in JSON escapes.
	var inspected []struct{ Config ocispec.Image }
	if err := json.Unmarshal([]byte(stdout["inspect "+ref]), &inspected); err != nil || len(inspected) != 1 ||
		inspected[0].Config.Author != hostile || inspected[0].Config.History[0].CreatedBy != hostile+" /bin/sh -c evil" {
		t.Errorf("inspect does not keep the config's values: %v\n%s", err, shown["inspect "+ref])
	}
	var rows []struct{ Name, Digest string }
	if err := json.Unmarshal([]byte(stdout["images --format json"]), &rows); err != nil || !containsRow(rows, "registry.example/evil"+hostile+":latest") {
		t.Errorf("images --format json does not keep the name: %v\n%s", err, shown["images --format json"])
	}
}

func containsRow(rows []struct{ Name, Digest string }, name string) bool {
	for _, r := range rows {
		if r.Name == name {
			return true
		}
	}
	return false
}

// A docker-archive whose manifest.json names members with hostile names.
func TestArchiveMemberNamesAreEscaped(t *testing.T) {
	t.Parallel()
	manifest, _ := json.Marshal([]map[string]any{{
		"Config": hostile + ".json", "RepoTags": []string{"example.com/x/y:z"}, "Layers": []string{hostile + "/layer.tar"},
	}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string][]byte{"manifest.json": manifest, hostile + "/layer.tar": []byte("not a tar")} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hostile.tar")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	res := run(t, env, "--root", t.TempDir(), "load", "-i", file)
	if res.Code != 1 {
		t.Fatalf("load of a broken archive: %+v", res)
	}
	assertInert(t, "load stdout", res.Stdout, false)
	assertInert(t, "load stderr", res.Stderr, false)
	if !strings.Contains(res.Stderr, hostileShown) {
		t.Errorf("load does not name the member escaped: %q", res.Stderr)
	}
}
