package cli_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/test/internal/testregistry"
)

// These tests tamper with a store or an archive as an attacker or a bad
// disk would and check, through the CLI, guards whose own tests call the
// library directly.

// `imagec inspect` of an image whose config blob was altered in place (same
// size, still valid JSON) fails on the blob's digest rather than printing
// the altered config.
func TestInspectRefusesAlteredConfig(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	ref := reg.Host + "/" + testregistry.SampleOCI
	mustRun(t, env, "--root", root, "pull", ref)
	id := digest.Digest(imageIDs(t, env, root, ref)[0])
	blob := filepath.Join(root, "blobs", id.Algorithm().String(), id.Encoded())
	raw, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Replace(raw, []byte(`"architecture"`), []byte(`"architecturf"`), 1)
	if bytes.Equal(altered, raw) || !json.Valid(altered) {
		t.Fatalf("cannot alter config %s", raw)
	}
	if err := os.Chmod(blob, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, altered, 0o444); err != nil {
		t.Fatal(err)
	}
	res := run(t, env, "--root", root, "inspect", ref)
	if res.Code == 0 || !strings.Contains(res.Stderr, "hashes to") || strings.Contains(res.Stdout, "architecturf") {
		t.Fatalf("inspect of an altered config: %+v", res)
	}
}

// `imagec load` of an archive whose first layer was swapped for another,
// self-consistent one (its file named by its own digest, the manifest
// updated to match) fails on the config's diffID, for both archive formats,
// and names nothing.
func TestLoadRefusesLayerNotMatchingDiffID(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	ref := reg.Host + "/" + testregistry.SampleOCI
	mustRun(t, env, "--root", root, "pull", ref)
	evil := tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "evil"})
	evilPath := "blobs/sha256/" + digest.FromBytes(evil).Encoded()
	for format, swap := range map[string]func(*testing.T, *archiveFiles){
		"docker": func(t *testing.T, a *archiveFiles) {
			var entries []map[string]any
			a.decode(t, "manifest.json", &entries)
			entries[0]["Layers"].([]any)[0] = evilPath
			a.put(evilPath, evil)
			a.encode(t, "manifest.json", entries)
		},
		"oci": func(t *testing.T, a *archiveFiles) {
			var idx struct {
				Manifests []map[string]any `json:"manifests"`
			}
			var raw map[string]any
			a.decode(t, "index.json", &raw)
			a.decode(t, "index.json", &idx)
			mPath := "blobs/sha256/" + digest.Digest(idx.Manifests[0]["digest"].(string)).Encoded()
			var m map[string]any
			a.decode(t, mPath, &m)
			m["layers"].([]any)[0] = map[string]any{
				"mediaType": "application/vnd.oci.image.layer.v1.tar",
				"digest":    digest.FromBytes(evil).String(),
				"size":      len(evil),
			}
			body, _ := json.Marshal(m)
			a.put(evilPath, evil)
			a.put("blobs/sha256/"+digest.FromBytes(body).Encoded(), body)
			idx.Manifests[0]["digest"] = digest.FromBytes(body).String()
			idx.Manifests[0]["size"] = len(body)
			raw["manifests"] = idx.Manifests
			a.encode(t, "index.json", raw)
		},
	} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "image.tar")
			mustRun(t, env, "--root", root, "save", "--format", format, "-o", file, ref)
			a := readArchive(t, file)
			swap(t, a)
			a.write(t, file)
			dst := t.TempDir()
			res := run(t, env, "--root", dst, "load", "-i", file)
			if res.Code == 0 || !strings.Contains(res.Stderr, "diffID") {
				t.Fatalf("load of an archive with a swapped layer: %+v", res)
			}
			if out := mustRun(t, env, "--root", dst, "images"); strings.Contains(out, reg.Host) {
				t.Fatalf("a refused load named an image:\n%s", out)
			}
		})
	}
}

// archiveFiles is a tar archive held in memory, in member order.
type archiveFiles struct {
	names []string
	data  map[string][]byte
}

func readArchive(t *testing.T, path string) *archiveFiles {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := &archiveFiles{data: map[string][]byte{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return a
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue // directories are implied by the paths
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		a.put(hdr.Name, b)
	}
}

func (a *archiveFiles) put(name string, b []byte) {
	if _, ok := a.data[name]; !ok {
		a.names = append(a.names, name)
	}
	a.data[name] = b
}

func (a *archiveFiles) decode(t *testing.T, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(a.data[name], v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func (a *archiveFiles) encode(t *testing.T, name string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	a.put(name, b)
}

func (a *archiveFiles) write(t *testing.T, path string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range a.names {
		b := a.data[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
