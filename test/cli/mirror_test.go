package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/testregistry"
)

func writeConfig(t *testing.T, registries map[string]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	b, err := json.Marshal(map[string]any{"registries": registries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func blobGets(reg *testregistry.Registry) map[string]int {
	out := map[string]int{}
	for _, r := range reg.Requests() {
		if r.Method == "GET" && strings.Contains(r.Path, "/blobs/") && r.Status < 300 {
			out[r.Path[strings.LastIndex(r.Path, "/")+1:]]++
		}
	}
	return out
}

// A fleet behind a shared pull-through cache (CNCF Distribution in proxy
// mode): a dead mirror is skipped, the cache serves, and the upstream sends
// each blob once however many clients pull.
func TestMirrorsWithPullThroughCache(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	img, err := fixtures.NewImage(41, 3, 128<<10, fixtures.Docker, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := upstream.Push(context.Background(), "fleet/app", "v1", img); err != nil {
		t.Fatal(err)
	}
	cache := testregistry.Start(t, testregistry.WithPullThrough(upstream.URL))
	cfg := writeConfig(t, map[string]any{
		upstream.Host: map[string]any{"mirrors": []string{"http://127.0.0.1:1", cache.Host}},
	})
	ref := upstream.Host + "/fleet/app:v1"
	upstream.ResetRequests()

	for client := range 3 {
		env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT=", "IMAGEC_CONFIG=" + cfg}
		root := t.TempDir()
		out := mustRun(t, env, "--root", root, "--progress", "plain", "pull", ref)
		if !strings.Contains(out, "mirror 127.0.0.1:1 failed, trying "+cache.Host) || !strings.Contains(out, "Downloaded newer image for "+ref) {
			t.Fatalf("client %d printed:\n%s", client, out)
		}
		// Recorded under the name asked for, not the mirror's.
		if insp := mustRun(t, env, "--root", root, "inspect", ref); !strings.Contains(insp, img.ConfigDesc.Digest.String()) {
			t.Fatalf("inspect:\n%s", insp)
		}
	}
	if got := blobGets(cache); len(got) != len(img.Layers)+1 {
		t.Fatalf("the cache served %v, want every blob", got)
	}
	up := blobGets(upstream)
	if len(up) != len(img.Layers)+1 {
		t.Fatalf("upstream sent %v, want every blob once", up)
	}
	for d, n := range up {
		if n != 1 {
			t.Fatalf("upstream sent blob %s %d times to 3 clients behind the cache", d, n)
		}
	}
}

// A mirror that lacks the image sends the pull on to the registry itself.
func TestMirrorWithoutTheImageFallsBack(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	img, err := fixtures.NewImage(42, 2, 32<<10, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := upstream.Push(context.Background(), "lone/app", "v1", img); err != nil {
		t.Fatal(err)
	}
	empty := testregistry.Start(t)
	cfg := writeConfig(t, map[string]any{upstream.Host: map[string]any{"mirrors": []string{empty.Host}}})
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT=", "IMAGEC_CONFIG=" + cfg}
	ref := upstream.Host + "/lone/app:v1"
	out := mustRun(t, env, "--root", t.TempDir(), "--progress", "plain", "pull", ref)
	if !strings.Contains(out, "mirror "+empty.Host+" failed") || len(blobGets(upstream)) != len(img.Layers)+1 {
		t.Fatalf("pull printed:\n%s\nupstream blobs %v", out, blobGets(upstream))
	}

	bad := writeConfig(t, map[string]any{upstream.Host: map[string]any{"mirrors": []string{"ftp://x"}}})
	res := run(t, []string{"IMAGEC_CONFIG=" + bad}, "--root", t.TempDir(), "pull", ref)
	if res.Code != 1 || !strings.Contains(res.Stderr, "ftp") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Fatalf("bad config: %+v", res)
	}
}
