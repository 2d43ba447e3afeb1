package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// seeded starts a registry with the sample images and returns it with a
// fresh store directory and an environment isolating Docker's config.
func seeded(t *testing.T, opts ...testregistry.Option) (*testregistry.Registry, string, []string) {
	t.Helper()
	reg := testregistry.Start(t, opts...)
	if _, err := testregistry.SeedSamples(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	return reg, t.TempDir(), []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
}

func run(t *testing.T, env []string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, env, "", args...)
}

func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	res := run(t, env, args...)
	if res.Code != 0 {
		t.Fatalf("imagec %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.Code, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

func TestPullEverySampleThenUpToDate(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	for _, s := range []string{testregistry.SampleHello, testregistry.SampleOCI, testregistry.SampleMulti, testregistry.SampleZstd, testregistry.SampleForeign} {
		ref := reg.Host + "/" + s
		out := mustRun(t, env, "--root", root, "pull", ref)
		if !strings.Contains(out, "Status: Downloaded newer image for "+ref) || !strings.Contains(out, "Digest: sha256:") {
			t.Fatalf("pull %s printed:\n%s", s, out)
		}
		reg.ResetRequests()
		out = mustRun(t, env, "--root", root, "pull", ref)
		if !strings.Contains(out, "Status: Image is up to date for "+ref) {
			t.Fatalf("second pull of %s printed:\n%s", s, out)
		}
		if n := reg.BlobGets(); n != 0 {
			t.Fatalf("second pull of %s fetched %d blobs", s, n)
		}
	}

	var rows []struct{ Repository, Tag, Digest, ID string }
	if err := json.Unmarshal([]byte(mustRun(t, env, "--root", root, "images", "--format", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("images lists %d rows: %+v", len(rows), rows)
	}
	table := mustRun(t, env, "--root", root, "images", "--digests")
	if !strings.Contains(table, "REPOSITORY") || !strings.Contains(table, reg.Host+"/samples/hello") {
		t.Fatalf("images table:\n%s", table)
	}

	var inspected []struct {
		ID       string `json:"Id"`
		RepoTags []string
		Config   struct{ Architecture string }
	}
	hello := reg.Host + "/" + testregistry.SampleHello
	if err := json.Unmarshal([]byte(mustRun(t, env, "--root", root, "inspect", hello)), &inspected); err != nil {
		t.Fatal(err)
	}
	if len(inspected) != 1 || !strings.HasPrefix(inspected[0].ID, "sha256:") || inspected[0].Config.Architecture == "" ||
		len(inspected[0].RepoTags) != 1 || inspected[0].RepoTags[0] != hello {
		t.Fatalf("inspect: %+v", inspected)
	}

	layers := strings.Split(strings.TrimSpace(mustRun(t, env, "--root", root, "layers", hello)), "\n")
	if len(layers) != 4 || !strings.HasPrefix(layers[0], "DIGEST") || strings.Count(layers[1], "sha256:") != 2 {
		t.Fatalf("layers:\n%s", strings.Join(layers, "\n"))
	}

	out := mustRun(t, env, "--root", root, "rmi", hello)
	if !strings.Contains(out, "Untagged: "+hello) {
		t.Fatalf("rmi printed %q", out)
	}
	if res := run(t, env, "--root", root, "inspect", hello); res.Code == 0 || !strings.Contains(res.Stderr, "no such image") {
		t.Fatalf("inspect after rmi: %+v", res)
	}
}

func TestJSONProgressIsDockerStream(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	out := mustRun(t, env, "--root", root, "pull", "--progress", "json", reg.Host+"/"+testregistry.SampleHello)
	var statuses []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m struct {
			Status         string
			ID             string
			ProgressDetail *struct{ Current, Total int64 }
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		statuses = append(statuses, m.Status)
	}
	all := strings.Join(statuses, "|")
	for _, want := range []string{"Pulling from samples/hello", "Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Pull complete", "Digest: sha256:", "Status: Downloaded newer image"} {
		if !strings.Contains(all, want) {
			t.Fatalf("JSON stream lacks %q: %s", want, all)
		}
	}
}

func TestErrorsAreOneClearLine(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"pull", "Invalid//Ref"}, "invalid reference"},
		{[]string{"pull", reg.Host + "/samples/none:latest"}, "not found"},
		{[]string{"pull", reg.Host + "/samples/hello:nope"}, "not found"},
		{[]string{"pull", "127.0.0.1:1/x/y:z"}, "unreachable"},
		{[]string{"pull", "--platform", "linux", reg.Host + "/" + testregistry.SampleMulti}, "platform"},
		{[]string{"pull", "--platform", "windows/amd64", reg.Host + "/" + testregistry.SampleMulti}, "linux/arm64"},
		{[]string{"inspect", "nothing:here"}, "no such image"},
		{[]string{"images", "--format", "yaml"}, "unknown --format"},
	}
	for _, tc := range cases {
		res := run(t, env, append([]string{"--root", root, "--progress", "plain"}[:2], tc.args...)...)
		line := strings.TrimSpace(res.Stderr)
		if res.Code != 1 || strings.Count(line, "\n") != 0 || !strings.HasPrefix(line, "imagec: ") || !strings.Contains(line, tc.want) {
			t.Errorf("imagec %v: exit %d, stderr %q; want one line mentioning %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
}

func TestLoginPullLogout(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]testregistry.Option{
		"basic": testregistry.WithBasicAuth("alice", "wonder"),
		"token": testregistry.WithTokenAuth("alice", "wonder"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reg, root, env := seeded(t, opt)
			ref := reg.Host + "/" + testregistry.SampleOCI
			if res := run(t, env, "--root", root, "pull", ref); res.Code == 0 || !strings.Contains(res.Stderr, "unauthorized") {
				t.Fatalf("anonymous pull: %+v", res)
			}
			if res := clitest.Run(t, env, "wonder\n", "--root", t.TempDir(), "pull", "-u", "alice", "--password-stdin", ref); res.Code != 0 {
				t.Fatalf("pull with --username --password-stdin: %+v", res)
			}
			if res := clitest.Run(t, env, "wrong\n", "login", "-u", "alice", "--password-stdin", reg.Host); res.Code == 0 {
				t.Fatalf("login with a wrong password succeeded: %+v", res)
			}
			res := clitest.Run(t, env, "wonder\n", "login", "-u", "alice", "--password-stdin", reg.Host)
			if res.Code != 0 || !strings.Contains(res.Stdout, "Login Succeeded") || strings.Contains(res.Stdout+res.Stderr, "wonder") {
				t.Fatalf("login: %+v", res)
			}
			cfg, err := os.ReadFile(filepath.Join(strings.TrimPrefix(env[0], "DOCKER_CONFIG="), "config.json"))
			if err != nil || !strings.Contains(string(cfg), reg.Host) {
				t.Fatalf("config.json after login: %s %v", cfg, err)
			}
			mustRun(t, env, "--root", root, "pull", ref)
			out := mustRun(t, env, "logout", reg.Host)
			if !strings.Contains(out, reg.Host) {
				t.Fatalf("logout printed %q", out)
			}
			if res := run(t, env, "logout", reg.Host); res.Code == 0 {
				t.Fatalf("second logout succeeded: %+v", res)
			}
		})
	}
}

func TestTLSRegistryNeedsCA(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t, testregistry.WithTLS())
	ref := reg.Host + "/" + testregistry.SampleHello
	if res := run(t, env, "--root", root, "pull", ref); res.Code == 0 || !strings.Contains(res.Stderr, "TLS") {
		t.Fatalf("pull without the CA: %+v", res)
	}
	mustRun(t, env, "--root", root, "--ca-file", reg.CAFile, "pull", ref)
	mustRun(t, env, "--root", t.TempDir(), "--insecure-skip-verify", "pull", ref)
}

// Other tools read the store as the OCI image layout it is.
func TestStoreIsReadableBySkopeoAndUmoci(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	samples := []string{testregistry.SampleHello, testregistry.SampleOCI, testregistry.SampleMulti, testregistry.SampleZstd}
	for _, s := range samples {
		mustRun(t, env, "--root", root, "pull", reg.Host+"/"+s)
	}
	// Each reader is its own subtest so that a missing tool shows as a skip
	// (or, in CI, a failure) instead of a pass.
	t.Run("skopeo", func(t *testing.T) {
		testtool.Require(t, "skopeo")
		for _, s := range samples {
			out, err := exec.Command("skopeo", "inspect", "oci:"+root+":"+reg.Host+"/"+s).CombinedOutput()
			if err != nil {
				t.Fatalf("skopeo inspect %s: %v\n%s", s, err, out)
			}
			var info struct{ Architecture string }
			if err := json.Unmarshal(out, &info); err != nil || info.Architecture == "" {
				t.Fatalf("skopeo inspect %s: %s", s, out)
			}
		}
	})
	t.Run("umoci", func(t *testing.T) {
		testtool.Require(t, "umoci")
		out, err := exec.Command("umoci", "ls", "--layout", root).CombinedOutput()
		if err != nil {
			t.Fatalf("umoci ls: %v\n%s", err, out)
		}
		for _, s := range samples {
			if !strings.Contains(string(out), reg.Host+"/"+s) {
				t.Fatalf("umoci ls lacks %s:\n%s", s, out)
			}
		}
	})
}

func TestVersion(t *testing.T) {
	t.Parallel()
	if out := mustRun(t, nil, "version"); !strings.HasPrefix(out, "imagec ") {
		t.Fatalf("version printed %q", out)
	}
}

// crane reads the store as an OCI layout too: pushing it back sends the very
// manifest imagec pulled.
func TestStoreIsReadableByCrane(t *testing.T) {
	t.Parallel()
	testtool.Require(t, "crane")
	reg, root, env := seeded(t)
	ref := reg.Host + "/" + testregistry.SampleOCI
	mustRun(t, env, "--root", root, "pull", ref)
	var inspected []struct{ ManifestDescriptor struct{ Digest string } }
	if err := json.Unmarshal([]byte(mustRun(t, env, "--root", root, "inspect", ref)), &inspected); err != nil || len(inspected) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	out, err := exec.Command("crane", "push", "--insecure", root, reg.Host+"/copied/by-crane:v1").CombinedOutput()
	if err != nil {
		t.Fatalf("crane push from the store: %v\n%s", err, out)
	}
	if want := inspected[0].ManifestDescriptor.Digest; !strings.Contains(string(out), want) {
		t.Fatalf("crane pushed %s, want manifest %s", out, want)
	}
}
