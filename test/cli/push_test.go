package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// push sends a stored image as it was pulled (same digest); a second push
// sends nothing; copy needs no store; other tools read what was pushed.
func TestPushAndCopy(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	dst := testregistry.Start(t)
	hello := reg.Host + "/" + testregistry.SampleHello
	multi := reg.Host + "/" + testregistry.SampleMulti
	mustRun(t, env, "--root", root, "pull", hello)
	want := strings.TrimSpace(mustRun(t, env, "digest", hello))

	out := mustRun(t, env, "--root", root, "push", "--progress", "plain", hello, dst.Host+"/mine/hello:v1")
	for _, line := range []string{"The push refers to repository [" + dst.Host + "/mine/hello]", ": Pushed", "v1: digest: " + want + " size: "} {
		if !strings.Contains(out, line) {
			t.Errorf("push output lacks %q:\n%s", line, out)
		}
	}
	if got := strings.TrimSpace(mustRun(t, env, "digest", dst.Host+"/mine/hello:v1")); got != want {
		t.Fatalf("pushed image has digest %s, pulled %s", got, want)
	}
	again := mustRun(t, env, "--root", root, "push", "--progress", "plain", hello, dst.Host+"/mine/hello:v1")
	if strings.Contains(again, "Pushed") || strings.Count(again, "Layer already exists") != 4 {
		t.Errorf("second push sent blobs:\n%s", again)
	}
	// By image ID, to its own registry: everything is there already.
	id := strings.Fields(strings.Split(mustRun(t, env, "--root", root, "images"), "\n")[1])[2]
	if out := mustRun(t, env, "--root", root, "push", "--progress", "plain", id); strings.Contains(out, "Pushed") {
		t.Errorf("push to the registry it came from sent blobs:\n%s", out)
	}

	// copy: registry to registry, the index whole, no store anywhere.
	nostore := filepath.Join(t.TempDir(), "none")
	copyEnv := append(env[:len(env):len(env)], "IMAGEC_ROOT="+nostore)
	mustRun(t, copyEnv, "copy", multi, dst.Host+"/mine/multi:v1")
	if got, want := strings.TrimSpace(mustRun(t, env, "digest", dst.Host+"/mine/multi:v1")), strings.TrimSpace(mustRun(t, env, "digest", multi)); got != want {
		t.Fatalf("copied index %s, source %s", got, want)
	}
	if _, err := os.Stat(nostore); err == nil {
		t.Error("copy created a store")
	}
	if out := mustRun(t, copyEnv, "copy", "--progress", "plain", dst.Host+"/mine/multi:v1", dst.Host+"/other/multi:v1"); !strings.Contains(out, "Mounted from mine/multi") || strings.Contains(out, "Pushed") {
		t.Errorf("copy within a registry did not mount:\n%s", out)
	}
	mustRun(t, copyEnv, "copy", "--platform", "linux/arm64", multi, dst.Host+"/mine/arm:v1")
	if out := mustRun(t, env, "manifest", dst.Host+"/mine/arm:v1"); !strings.Contains(out, `"layers"`) {
		t.Errorf("copy --platform sent no image manifest:\n%s", out)
	}
	if out := mustRun(t, copyEnv, "copy", "--all-tags", reg.Host+"/samples/hello", dst.Host+"/all/hello"); !strings.Contains(out, dst.Host+"/all/hello:latest: digest: "+want) {
		t.Errorf("copy --all-tags printed:\n%s", out)
	}

	// Other tools read what imagec pushed.
	testtool.Require(t, "skopeo")
	if out := mustRunTool(t, "skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+dst.Host+"/mine/hello:v1"); !strings.Contains(out, `"layers"`) {
		t.Errorf("skopeo reads:\n%s", out)
	}
	testtool.Require(t, "crane")
	if out := mustRunTool(t, "crane", "digest", "--insecure", dst.Host+"/mine/multi:v1"); strings.TrimSpace(out) != strings.TrimSpace(mustRun(t, env, "digest", multi)) {
		t.Errorf("crane digest = %s", out)
	}
}

// Refusals are one line, before anything is sent.
func TestPushRefusals(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	dst := testregistry.Start(t)
	multi := reg.Host + "/" + testregistry.SampleMulti
	mustRun(t, env, "--root", root, "pull", multi)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"push", multi, dst.Host + "/x:1"}, "push one platform with --platform"},
		{[]string{"push", "--max-concurrent-uploads", "0", multi}, "--max-concurrent-uploads 0: must be at least 1"},
		{[]string{"push", "nosuch"}, "no such image: nosuch"},
		{[]string{"push", "--platform", "../..", multi}, `platform "../.."`},
	} {
		res := run(t, env, append([]string{"--root", root}, tc.args...)...)
		if res.Code != 1 || !strings.Contains(res.Stderr, tc.want) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line with %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
	if n := len(dst.Requests()); n > 2 {
		t.Errorf("the refused pushes sent %d requests to the destination", n)
	}
	mustRun(t, env, "--root", root, "push", "--platform", "linux/amd64", multi, dst.Host+"/x:amd64")
}

// mustRunTool runs another program and returns its standard output.
func mustRunTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}
