package cli_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// withSamples is a registry seeded with the samples, their digests, and an
// environment without Docker credentials, store or config file.
func withSamples(t *testing.T) (*testregistry.Registry, map[string]digest.Digest, []string) {
	t.Helper()
	reg := testregistry.Start(t)
	samples, err := testregistry.SeedSamples(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return reg, samples, []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT=", "IMAGEC_CONFIG="}
}

func TestTagsDigestManifest(t *testing.T) {
	t.Parallel()
	reg, samples, env := withSamples(t)
	hello := reg.Host + "/" + testregistry.SampleHello
	img, err := fixtures.NewImage(1, 3, 96<<10, fixtures.Docker, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1.0", "1.1", "2.0", "edge"} {
		if err := reg.Push(context.Background(), "samples/hello", tag, img); err != nil {
			t.Fatal(err)
		}
	}

	reg.ResetRequests()
	out := mustRun(t, env, "tags", "--page-size", "2", reg.Host+"/samples/hello")
	if out != "1.0\n1.1\n2.0\nedge\nlatest\n" {
		t.Fatalf("tags printed %q", out)
	}
	pages := 0
	for _, r := range reg.Requests() {
		if strings.HasSuffix(r.Path, "/tags/list") {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("tags asked for %d pages of 2, want 3", pages)
	}

	for _, ref := range []string{hello, reg.Host + "/samples/hello@" + samples[hello].String(), reg.Host + "/" + testregistry.SampleMulti} {
		want := samples[hello]
		if strings.Contains(ref, "multi") {
			want = samples[ref]
		}
		if out := mustRun(t, env, "digest", ref); out != want.String()+"\n" {
			t.Errorf("digest %s printed %q, want %s", ref, out, want)
		}
		// Piped: the exact bytes, which hash to the digest.
		body := mustRun(t, env, "manifest", ref)
		if got := digest.NewDigestFromBytes(digest.SHA256, sha256Sum(body)); got != want {
			t.Errorf("manifest %s hashes to %s, want %s", ref, got, want)
		}
	}

	for _, args := range [][]string{
		{"digest", reg.Host + "/samples/hello:nope"},
		{"manifest", reg.Host + "/samples/nothing:latest"},
		{"manifest", reg.Host + "/samples/hello@sha256:" + strings.Repeat("0", 64)},
		{"tags", reg.Host + "/samples/hello:latest"},
		{"tags", reg.Host + "/samples/nothing"},
	} {
		res := run(t, env, args...)
		if res.Code != 1 || res.Stdout != "" || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 || !strings.HasPrefix(res.Stderr, "imagec: ") {
			t.Errorf("imagec %s: %+v, want one line on stderr and exit 1", strings.Join(args, " "), res)
		}
	}
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// manifest reads through the configured mirrors, as pull does: a dead one
// is passed over.
func TestManifestThroughMirrors(t *testing.T) {
	t.Parallel()
	reg, samples, env := withSamples(t)
	cache := testregistry.Start(t, testregistry.WithPullThrough(reg.URL))
	cfg := writeConfig(t, map[string]any{reg.Host: map[string]any{"mirrors": []string{"http://127.0.0.1:1", cache.Host}}})
	env = append(env, "IMAGEC_CONFIG="+cfg)
	oci := reg.Host + "/" + testregistry.SampleOCI
	reg.ResetRequests()
	body := mustRun(t, env, "manifest", reg.Host+"/samples/oci@"+samples[oci].String())
	if got := digest.NewDigestFromBytes(digest.SHA256, sha256Sum(body)); got != samples[oci] {
		t.Fatalf("manifest hashes to %s, want %s", got, samples[oci])
	}
	served := 0
	for _, r := range cache.Requests() {
		if strings.Contains(r.Path, "/manifests/") && r.Status == http.StatusOK {
			served++
		}
	}
	if served != 1 {
		t.Errorf("the mirror served the manifest %d times, want 1", served)
	}
}

// Tags come from outside: printed escaped, one per line.
func TestTagsEscaped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			fmt.Fprint(w, `{"tags":["ok","\u001b[2Jred\nline"]}`)
		}
	}))
	t.Cleanup(srv.Close)
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT=", "IMAGEC_CONFIG="}
	out := mustRun(t, env, "tags", strings.TrimPrefix(srv.URL, "http://")+"/x")
	if out != "ok\n\\x1b[2Jred\\nline\n" {
		t.Fatalf("tags printed %q", out)
	}
}

// A registry that wants a login is read with the credentials `imagec
// login` saved.
func TestTagsWithLogin(t *testing.T) {
	t.Parallel()
	reg, _, env := seeded(t, testregistry.WithTokenAuth("alice", "wonder"))
	env = append(env, "IMAGEC_CONFIG=")
	repo := reg.Host + "/samples/oci"
	if res := run(t, env, "tags", repo); res.Code != 1 || !strings.Contains(res.Stderr, "list tags of "+repo+": ") || !strings.Contains(res.Stderr, "401") {
		t.Fatalf("tags without login: %+v", res)
	}
	if res := clitest.Run(t, env, "wonder\n", "login", "-u", "alice", "--password-stdin", reg.Host); res.Code != 0 {
		t.Fatalf("login: %+v", res)
	}
	if out := mustRun(t, env, "tags", repo); out != "latest\n" {
		t.Fatalf("tags printed %q", out)
	}
}
