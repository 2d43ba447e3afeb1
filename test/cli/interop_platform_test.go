package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// Images whose config declares no platform (as `crane append` builds from
// scratch), or another one than the host's, stored as single manifests:
// other tools read them out of the store too, and imagec re-pulls them as
// up to date.
func TestSingleManifestsOfAnyPlatformAreReadable(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	root, env := t.TempDir(), []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	var names []string
	for i, tc := range []struct {
		tag      string
		platform ocispec.Platform
		format   fixtures.Format
	}{
		{"none-docker", ocispec.Platform{}, fixtures.Docker},
		{"none-oci", ocispec.Platform{}, fixtures.OCI},
		{"arm64-docker", ocispec.Platform{OS: "linux", Architecture: "arm64"}, fixtures.Docker},
	} {
		img, err := fixtures.NewImage(int64(40+i), 2, 8<<10, tc.format, fixtures.Gzip, tc.platform)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Push(context.Background(), "single/img", tc.tag, img); err != nil {
			t.Fatal(err)
		}
		name := reg.Host + "/single/img:" + tc.tag
		names = append(names, name)
		mustRun(t, env, "--root", root, "pull", name)
		if out := mustRun(t, env, "--root", root, "pull", name); !strings.Contains(out, "Image is up to date") {
			t.Errorf("re-pull of %s:\n%s", name, out)
		}
	}
	assertNoEmptyPlatform(t, root)
	testtool.Require(t, "skopeo")
	for _, name := range names {
		// A platformless image is selected for any architecture; the arm64
		// one when arm64 is asked for.
		checks := [][]string{{"inspect", "--raw"}, {"inspect", "--override-arch", "arm64"}}
		if !strings.Contains(name, "arm64") {
			checks = append(checks, []string{"inspect"}, []string{"inspect", "--override-arch", "amd64"})
		}
		for _, args := range checks {
			out, err := exec.Command("skopeo", append(args, "oci:"+root+":"+name)...).CombinedOutput()
			if err != nil {
				t.Errorf("skopeo %s %s: %v\n%s", strings.Join(args, " "), name, err, out)
				continue
			}
			var doc map[string]any
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Errorf("skopeo %s %s: %s", strings.Join(args, " "), name, out)
			}
		}
	}
	testtool.Require(t, "umoci")
	out, err := exec.Command("umoci", "ls", "--layout", root).CombinedOutput()
	if err != nil {
		t.Fatalf("umoci ls: %v\n%s", err, out)
	}
	for _, name := range names {
		if !strings.Contains(string(out), name) {
			t.Errorf("umoci ls lacks %s:\n%s", name, out)
		}
	}
}

// assertNoEmptyPlatform fails if an index named in root's index.json lists
// a manifest with an empty platform, which skopeo then never selects.
func assertNoEmptyPlatform(t *testing.T, root string) {
	t.Helper()
	var top ocispec.Index
	readJSON(t, root+"/index.json", &top)
	for _, e := range top.Manifests {
		if e.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		var idx ocispec.Index
		readJSON(t, root+"/blobs/sha256/"+e.Digest.Encoded(), &idx)
		for _, m := range idx.Manifests {
			if m.Platform != nil && (m.Platform.OS == "" || m.Platform.Architecture == "") {
				t.Errorf("index %s lists %s with an empty platform %+v", e.Digest, m.Digest, *m.Platform)
			}
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
