package archive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/reference"
)

// skopeo runs skopeo with a private temp directory (it unpacks archives
// there) and without a signature policy file.
func skopeo(t *testing.T, args ...string) []byte {
	t.Helper()
	testtool.Require(t, "skopeo")
	cmd := exec.Command("skopeo", append([]string{"--insecure-policy"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "archive.tar")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rawManifest is what skopeo inspect --raw prints of an image.
type rawManifest struct {
	MediaType string
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
}

func inspectRaw(t *testing.T, ref string) (rawManifest, digest.Digest) {
	t.Helper()
	out := skopeo(t, "inspect", "--raw", ref)
	var m rawManifest
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("skopeo inspect --raw %s: %v\n%s", ref, err, out)
	}
	return m, digest.FromBytes(out)
}

// TestSkopeoReadsOurArchives: skopeo sees our image IDs and layers in both
// formats and copies out of a docker-archive.
func TestSkopeoReadsOurArchives(t *testing.T) {
	t.Parallel()
	testtool.Require(t, "skopeo")
	p := newPuller(t)
	cases := []struct {
		repoTag string
		img     *fixtures.Image
	}{
		{"interop/docker:1", fixture(t, 40, 2, fixtures.Docker, fixtures.Gzip)},
		{"interop/oci:1", fixture(t, 41, 2, fixtures.OCI, fixtures.Gzip)},
		{"interop/zstd:1", fixture(t, 42, 2, fixtures.OCI, fixtures.Zstd)},
	}
	for _, tc := range cases {
		name := p.image(t, tc.repoTag, tc.img)
		t.Run(tc.repoTag, func(t *testing.T) {
			t.Parallel()
			img := loadImage(t, p.st, name)
			docker := writeFile(t, save(t, p.st, archive.FormatDocker, name))
			m, _ := inspectRaw(t, "docker-archive:"+docker)
			if m.Config.Digest != img.ID() || len(m.Layers) != len(img.Manifest.Layers) {
				t.Fatalf("skopeo sees config %s and %d layers, want %s and %d", m.Config.Digest, len(m.Layers), img.ID(), len(img.Manifest.Layers))
			}
			// skopeo presents a docker-archive's layers uncompressed, by diffID.
			for i, l := range m.Layers {
				if l.Digest != img.Config.RootFS.DiffIDs[i] {
					t.Fatalf("layer %d: skopeo sees %s, diffID %s", i, l.Digest, img.Config.RootFS.DiffIDs[i])
				}
			}
			var info struct{ RepoTags []string }
			if err := json.Unmarshal(skopeo(t, "inspect", "docker-archive:"+docker), &info); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "layout")
			skopeo(t, "copy", "docker-archive:"+docker, "oci:"+dir+":x")
			if copied, _ := inspectRaw(t, "oci:"+dir+":x"); copied.Config.Digest != img.ID() {
				t.Fatalf("skopeo copied config %s, want %s", copied.Config.Digest, img.ID())
			}

			oci := writeFile(t, save(t, p.st, archive.FormatOCI, name))
			// --raw shows the index.json entry: the manifest, or the index
			// naming a Docker manifest; the config is the image's.
			if _, d := inspectRaw(t, "oci-archive:"+oci+":"+name); d != img.Entry.Digest {
				t.Fatalf("skopeo sees %s, want %s", d, img.Entry.Digest)
			}
			if cfg := skopeo(t, "inspect", "--config", "--raw", "oci-archive:"+oci+":"+name); digest.FromBytes(cfg) != img.ID() {
				t.Fatalf("skopeo sees config %s, want %s", digest.FromBytes(cfg), img.ID())
			}
		})
	}
}

// TestSkopeoReadsMultiImageDockerArchive picks images out of one archive by
// tag and by index, as docker-archive: references allow.
func TestSkopeoReadsMultiImageDockerArchive(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	base := layerTar(t, "base", "shared")
	id1 := storeImage(t, st, "docker.io/library/one:1", base, layerTar(t, "a", "a"))
	id2 := storeImage(t, st, "localhost:5000/two:2", base, layerTar(t, "b", "b"))
	file := writeFile(t, save(t, st, archive.FormatDocker, "docker.io/library/one:1", "localhost:5000/two:2"))
	for ref, want := range map[string]digest.Digest{
		"docker-archive:" + file + ":one:1":                id1,
		"docker-archive:" + file + ":localhost:5000/two:2": id2,
		"docker-archive:" + file + ":@1":                   id2,
	} {
		if m, _ := inspectRaw(t, ref); m.Config.Digest != want {
			t.Errorf("%s: config %s, want %s", ref, m.Config.Digest, want)
		}
	}
}

// TestLoadSkopeoArchives loads archives another tool wrote: skopeo's
// docker-archive (uncompressed <hex>.tar layers, <hex>.json config, legacy
// directories of symlinks) and its oci-archive.
func TestLoadSkopeoArchives(t *testing.T) {
	t.Parallel()
	testtool.Require(t, "skopeo")
	p := newPuller(t)
	name := p.image(t, "interop/src:1", fixture(t, 50, 3, fixtures.Docker, fixtures.Gzip))
	want := imageID(t, p.st, name)
	cases := []struct {
		transport string
		dest      string // the name skopeo writes into the archive
		loaded    string // the name it is loaded under
	}{
		{"docker-archive", "example.com/other/name:v2", "example.com/other/name:v2"},
		{"docker-archive", "alpine:edge", "docker.io/library/alpine:edge"},
		{"oci-archive", "example.com/other/name:v3", "example.com/other/name:v3"},
	}
	for _, tc := range cases {
		t.Run(tc.transport+" "+tc.dest, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "skopeo.tar")
			skopeo(t, "copy", "oci:"+p.st.Root()+":"+name, tc.transport+":"+file+":"+tc.dest)
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dst := newStore(t)
			names, err := archive.Load(context.Background(), dst, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != 1 || names[0] != reference.MustParse(tc.loaded).String() {
				t.Fatalf("loaded %v, want %s", names, tc.loaded)
			}
			if got := imageID(t, dst, names[0]); got != want {
				t.Fatalf("image ID %s, want %s", got, want)
			}
			assertClean(t, dst)
		})
	}
}
