package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/test/internal/testregistry"
)

func countBlobs(t *testing.T, root string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// rmi then gc frees the space (hello: 3 layers, its config, its manifest and
// the index naming it); what other images use stays.
func TestRmiThenGCFreesSpace(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	hello, oci := reg.Host+"/"+testregistry.SampleHello, reg.Host+"/"+testregistry.SampleOCI
	mustRun(t, env, "--root", root, "pull", hello)
	mustRun(t, env, "--root", root, "pull", oci)
	before := countBlobs(t, root)
	if out := mustRun(t, env, "--root", root, "gc"); !strings.HasPrefix(out, "removed 0 blobs") {
		t.Fatalf("gc with everything named: %q", out)
	}
	mustRun(t, env, "--root", root, "rmi", hello)
	if out := mustRun(t, env, "--root", root, "gc", "--dry-run"); !strings.HasPrefix(out, "would remove 6 blobs") || countBlobs(t, root) != before {
		t.Fatalf("dry run: %q, %d blobs", out, countBlobs(t, root))
	}
	if out := mustRun(t, env, "--root", root, "gc"); !strings.HasPrefix(out, "removed 6 blobs") {
		t.Fatalf("gc after rmi: %q", out)
	}
	if n := countBlobs(t, root); n != before-6 {
		t.Fatalf("%d blobs left, want %d", n, before-6)
	}
	if out := mustRun(t, env, "--root", root, "pull", oci); !strings.Contains(out, "Image is up to date") {
		t.Fatalf("the kept image lost content:\n%s", out)
	}
	mustRun(t, env, "--root", root, "fsck")
}

// A dry run reports exactly what gc then removes, in the same words:
// blobs, partial downloads and unpacked layers alike.
func TestGCDryRunReportsWhatGCRemoves(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	hello := reg.Host + "/" + testregistry.SampleHello
	mustRun(t, env, "--root", root, "pull", "--unpack", hello)
	mustRun(t, env, "--root", root, "rmi", hello)
	partial := filepath.Join(root, ".imagec", "ingest", "sha256-"+strings.Repeat("ab", 32))
	if err := os.MkdirAll(partial, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "data"), []byte("half a layer"), 0o644); err != nil {
		t.Fatal(err)
	}
	dry := mustRun(t, env, "--root", root, "gc", "--dry-run")
	if !strings.Contains(dry, "1 partial downloads") || !strings.Contains(dry, "3 unpacked layers") {
		t.Errorf("dry run does not count the partial download and the unpacked layers: %q", dry)
	}
	if _, err := os.Stat(partial); err != nil {
		t.Errorf("the dry run removed the partial download: %v", err)
	}
	real := mustRun(t, env, "--root", root, "gc")
	if want := strings.Replace(dry, "would remove", "removed", 1); real != want {
		t.Errorf("gc said %q, its dry run %q", real, dry)
	}
	if again := mustRun(t, env, "--root", root, "gc", "--dry-run"); !strings.HasPrefix(again, "would remove 0 blobs (0B), 0 partial downloads, 0 unpacked layers") {
		t.Errorf("after gc the dry run still finds %q", again)
	}
}
