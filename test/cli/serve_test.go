package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// crane and skopeo pull from `imagec serve` what imagec pulled, under the
// registry's digests; HEAD and Range are answered; writes are refused;
// SIGTERM stops it cleanly.
func TestServeToCraneAndSkopeo(t *testing.T) {
	t.Parallel()
	crane := testtool.Require(t, "crane")
	skopeo := testtool.Require(t, "skopeo")
	reg, root, env := seeded(t)
	digests, err := testregistry.SeedSamples(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{testregistry.SampleHello, testregistry.SampleMulti} {
		mustRun(t, env, "--root", root, "pull", reg.Host+"/"+s)
	}
	srv := startServe(t, env, root)

	for _, s := range []string{testregistry.SampleHello, testregistry.SampleMulti} {
		want := digests[reg.Host+"/"+s].String()
		out, err := exec.Command(crane, "digest", "--insecure", srv.addr+"/"+s).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("crane digest %s = %s (%v), want %s", s, out, err, want)
		}
		if out, err := exec.Command(crane, "pull", "--insecure", srv.addr+"/"+s, filepath.Join(t.TempDir(), "img.tar")).CombinedOutput(); err != nil {
			t.Errorf("crane pull %s: %v\n%s", s, err, out)
		}
		dest := "oci:" + filepath.Join(t.TempDir(), "layout") + ":x"
		if out, err := exec.Command(skopeo, "copy", "--src-tls-verify=false", "docker://"+srv.addr+"/"+s, dest).CombinedOutput(); err != nil {
			t.Errorf("skopeo copy %s: %v\n%s", s, err, out)
		}
		out, err = exec.Command(skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+srv.addr+"/"+s).Output()
		if err != nil || digest.FromBytes(out).String() != want {
			t.Errorf("skopeo inspect --raw %s hashes to %s (%v), want %s", s, digest.FromBytes(out), err, want)
		}
	}

	hello := srv.url("/v2/samples/hello/manifests/latest")
	resp, body := httpDo(t, http.MethodHead, hello)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Docker-Content-Digest") != digests[reg.Host+"/"+testregistry.SampleHello].String() ||
		resp.ContentLength <= 0 || resp.Header.Get("Content-Type") != fixtures.MediaTypeDockerManifest {
		t.Fatalf("HEAD manifest: %d %v", resp.StatusCode, resp.Header)
	}
	_, body = httpDo(t, http.MethodGet, hello)
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0]
	blob := srv.url("/v2/samples/hello/blobs/" + layer.Digest.String())
	_, whole := httpDo(t, http.MethodGet, blob)
	resp, part := httpDo(t, http.MethodGet, blob, "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || string(part) != string(whole[100:200]) || resp.Header.Get("Accept-Ranges") != "bytes" ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", layer.Size) {
		t.Fatalf("Range: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = httpDo(t, http.MethodPut, hello)
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), `"UNSUPPORTED"`) {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}

	if code := srv.stop(t); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM; stderr:\n%s", code, srv.stderr)
	}
	log := srv.stderr.String()
	for _, want := range []string{`"HEAD /v2/samples/hello/manifests/latest" 200 0 `, `"GET /v2/samples/hello/blobs/` + layer.Digest.String() + `" 206 100 `, `"PUT /v2/samples/hello/manifests/latest" 405 `, `"skopeo/`} {
		if !strings.Contains(log, want) {
			t.Errorf("the access log lacks %q:\n%s", want, log)
		}
	}
}

// containerd pulls through a hosts directory that names `imagec serve` as
// the registry's mirror: the same digest, and not one request reaches the
// registry. Then a rack: two nodes (two containerd daemons) pull through
// one `imagec serve --pull-through` with an empty store, and the registry
// sends each blob once.
func TestServeAsContainerdMirror(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	digests, err := testregistry.SeedSamples(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	node := startContainerd(t)
	hello := reg.Host + "/" + testregistry.SampleHello
	mustRun(t, env, "--root", root, "pull", hello)
	srv := startServe(t, env, root)

	reg.ResetRequests()
	node.run(t, "mirror", "images", "pull", "--hosts-dir", mirrorHostsDir(t, reg.Host, srv.addr), "--snapshotter", "native", hello)
	if got, want := node.imageDigest(t, "mirror", hello), digests[hello].String(); got != want {
		t.Fatalf("ctr pulled %s as %s, the registry has %s", hello, got, want)
	}
	if reqs := reg.Requests(); len(reqs) != 0 {
		t.Fatalf("ctr asked the registry %d times, the first %+v", len(reqs), reqs[0])
	}
	if log := srv.stderr.String(); !strings.Contains(log, "ns="+url.QueryEscape(reg.Host)) {
		t.Fatalf("serve saw no request with ns=%s:\n%s", reg.Host, log)
	}

	// The rack: a node-local cache that starts empty.
	cache := startServe(t, env, t.TempDir(), "--pull-through", "--upstream", reg.Host)
	hosts := mirrorHostsDir(t, reg.Host, cache.addr)
	multi := reg.Host + "/" + testregistry.SampleMulti
	reg.ResetRequests()
	for i, n := range []*containerd{node, startContainerd(t)} {
		n.run(t, "rack", "images", "pull", "--hosts-dir", hosts, "--snapshotter", "native", "--platform", "linux/amd64", multi)
		if got, want := n.imageDigest(t, "rack", multi), digests[multi].String(); got != want {
			t.Fatalf("node %d pulled %s as %s, the registry has %s", i, multi, got, want)
		}
	}
	gets := blobGets(reg)
	if len(gets) < 3 {
		t.Fatalf("the registry sent %d blobs: %v\ncache log:\n%s", len(gets), gets, cache.stderr)
	}
	for d, n := range gets {
		if n != 1 {
			t.Errorf("the registry sent blob %s %d times, want once", d, n)
		}
	}
}

// A pull-through killed while a client downloads a blob through it: the
// partial blob is never served (a restarted read-only server answers 404),
// and a restarted cache resumes the download from where it stopped and
// serves the whole, verified blob.
func TestServePullThroughKilledMidBlob(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	img, err := fixtures.NewImage(41, 1, 2<<20, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "big/img", "latest", img); err != nil {
		t.Fatal(err)
	}
	layer := img.Layers[0]
	proxy := faultproxy.Start(t, reg.URL)
	stall := faultproxy.Stall(faultproxy.Blob, 1, layer.Size/2)
	stall.Match = func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, layer.Digest.String()) }
	proxy.Inject(stall)
	root, env := t.TempDir(), []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	ns := "?ns=" + proxy.Host
	blobPath := "/v2/big/img/blobs/" + layer.Digest.String() + ns

	srv := startServe(t, env, root, "--pull-through", "--upstream", proxy.Host)
	if resp, body := httpDo(t, http.MethodGet, srv.url("/v2/big/img/manifests/latest"+ns)); resp.StatusCode != http.StatusOK {
		t.Fatalf("manifest through the cache: %d %s", resp.StatusCode, body)
	}
	resp, err := http.Get(srv.url(blobPath))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("blob through the cache: %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatalf("reading the first bytes: %v", err)
	}
	srv.kill(t)
	if n, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Fatalf("the client read %d more bytes and a clean end from a killed server", n)
	}
	resp.Body.Close()
	st, err := local.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{Digest: layer.Digest, Size: layer.Size}
	if st.Has(context.Background(), desc) {
		t.Fatal("the blob is in the store after the cache was killed mid-blob")
	}

	readOnly := startServe(t, env, root)
	if resp, body := httpDo(t, http.MethodGet, readOnly.url(blobPath)); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a read-only server answered the partial blob: %d (%d bytes)", resp.StatusCode, len(body))
	}
	readOnly.stop(t)

	reg.ResetRequests()
	again := startServe(t, env, root, "--pull-through", "--upstream", proxy.Host)
	resp, body := httpDo(t, http.MethodGet, again.url(blobPath))
	if resp.StatusCode != http.StatusOK || digest.FromBytes(body) != layer.Digest {
		t.Fatalf("after a restart: %d, %d bytes hashing to %s", resp.StatusCode, len(body), digest.FromBytes(body))
	}
	resumed := false
	for _, r := range reg.Requests() {
		resumed = resumed || (strings.HasSuffix(r.Path, layer.Digest.String()) && strings.HasPrefix(r.Range, "bytes=") && r.Range != "bytes=0-")
	}
	if !resumed {
		t.Errorf("the restarted cache did not resume the blob: %+v", reg.Requests())
	}
	again.stop(t)
	if !st.Has(context.Background(), desc) {
		t.Fatal("the blob is not stored after the restarted cache served it")
	}
}
