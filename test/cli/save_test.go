package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// imageIDs returns the image ID `imagec inspect` shows for each reference.
func imageIDs(t *testing.T, env []string, root string, refs ...string) []string {
	t.Helper()
	var out []struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, append([]string{"--root", root, "inspect"}, refs...)...)), &out); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(out))
	for i, o := range out {
		ids[i] = o.ID
	}
	return ids
}

func TestSaveLoadFile(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	hello, oci := reg.Host+"/"+testregistry.SampleHello, reg.Host+"/"+testregistry.SampleOCI
	mustRun(t, env, "--root", root, "pull", hello)
	mustRun(t, env, "--root", root, "pull", oci)
	want := imageIDs(t, env, root, hello, oci)
	for _, format := range []string{"docker", "oci"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "images.tar")
			if out := mustRun(t, env, "--root", root, "save", "--format", format, "-o", file, hello, oci); out != "" {
				t.Fatalf("save printed %q", out)
			}
			dst := t.TempDir()
			out := mustRun(t, env, "--root", dst, "load", "-i", file)
			if out != "Loaded image: "+hello+"\nLoaded image: "+oci+"\n" {
				t.Fatalf("load printed %q", out)
			}
			if got := imageIDs(t, env, dst, hello, oci); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("image IDs %v after load, want %v", got, want)
			}
		})
	}
}

func TestSaveLoadPipe(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	hello := reg.Host + "/" + testregistry.SampleHello
	mustRun(t, env, "--root", root, "pull", hello)
	want := imageIDs(t, env, root, hello)

	// By image ID prefix, to standard output, in an OCI layout.
	tarball := mustRun(t, env, "--root", root, "save", "--format", "oci", strings.TrimPrefix(want[0], "sha256:")[:12])
	dst := t.TempDir()
	res := clitest.Run(t, env, tarball, "--root", dst, "load")
	if res.Code != 0 || res.Stdout != "Loaded image: "+hello+"\n" {
		t.Fatalf("load from stdin: %+v", res)
	}
	if got := imageIDs(t, env, dst, hello); got[0] != want[0] {
		t.Fatalf("image ID %s after load, want %s", got[0], want[0])
	}

	// A digest reference is saved untagged: docker prints the image ID.
	var inspected []struct{ RepoDigests []string }
	if err := json.Unmarshal([]byte(mustRun(t, env, "--root", root, "inspect", hello)), &inspected); err != nil {
		t.Fatal(err)
	}
	_, dgst, _ := strings.Cut(inspected[0].RepoDigests[0], "@")
	mustRun(t, env, "--root", root, "pull", reg.Host+"/samples/hello@"+dgst)
	tarball = mustRun(t, env, "--root", root, "save", reg.Host+"/samples/hello@"+dgst)
	res = clitest.Run(t, env, tarball, "--root", t.TempDir(), "load")
	if res.Code != 0 || res.Stdout != "Loaded image ID: "+want[0]+"\n" {
		t.Fatalf("load of an untagged image: %+v", res)
	}
}

func TestSaveLoadErrors(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	hello := reg.Host + "/" + testregistry.SampleHello
	mustRun(t, env, "--root", root, "pull", hello)
	dir := t.TempDir()
	notTar := filepath.Join(dir, "not.tar")
	if err := os.WriteFile(notTar, []byte(strings.Repeat("nope", 300)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.tar")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"save", "--format", "zip", "-o", out, hello}, "unknown archive format"},
		{[]string{"save", "-o", out, "nothing:here"}, "no such image"},
		{[]string{"save", "-o", filepath.Join(dir, "missing", "x.tar"), hello}, "no such file"},
		{[]string{"save", "-o", out}, "requires at least 1 arg"},
		{[]string{"load", "-i", notTar}, "invalid tar header"},
		{[]string{"load", "-i", filepath.Join(dir, "none.tar")}, "no such file"},
	}
	for _, tc := range cases {
		res := run(t, env, append([]string{"--root", root}, tc.args...)...)
		line := strings.TrimSpace(res.Stderr)
		if res.Code != 1 || strings.Contains(line, "\n") || !strings.Contains(line, tc.want) {
			t.Errorf("imagec %v: exit %d, stderr %q; want one line mentioning %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
	// A failed save leaves no file behind, not even a temp file.
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left after failed saves: %v", entries)
	}
}
