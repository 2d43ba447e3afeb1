package cli_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// mirror is a loopback reverse proxy in front of a test registry, standing
// in for a node-local mirror (Spegel, Dragonfly's proxy, a Harbor proxy
// project): it records every request, refuses with a 404 those its check
// rejects, serves the API under its path, and strips ns= before passing a
// request on, as a real mirror answers from its own content.
type mirror struct {
	Host    string
	mu      sync.Mutex
	seen    []seenRequest
	refused atomic.Int32
}

type seenRequest struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
}

type mirrorOptions struct {
	// check returns why a request is refused, "" to serve it.
	check func(r *http.Request) string
	// root is the path the API is served under ("/v2" when "").
	root string
	tls  *tls.Config
}

func startMirror(t *testing.T, upstream *testregistry.Registry, o mirrorOptions) *mirror {
	t.Helper()
	target, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	if o.root == "" {
		o.root = "/v2"
	}
	m := &mirror{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.URL.Path = "/v2" + strings.TrimPrefix(pr.In.URL.Path, o.root)
		pr.Out.URL.RawPath = ""
		q := pr.In.URL.Query()
		q.Del("ns")
		pr.Out.URL.RawQuery = q.Encode()
	}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.seen = append(m.seen, seenRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
		m.mu.Unlock()
		why := ""
		if !strings.HasPrefix(r.URL.Path, o.root+"/") {
			why = "not under " + o.root
		} else if o.check != nil {
			why = o.check(r)
		}
		if why != "" {
			m.refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"errors":[{"code":"NAME_UNKNOWN","message":%q}]}`, why)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	srv.TLS = o.tls
	if o.tls != nil {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	m.Host = srv.Listener.Addr().String()
	return m
}

func (m *mirror) requests() []seenRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]seenRequest(nil), m.seen...)
}

// blobGets counts the blob GETs the mirror served.
func (m *mirror) blobGets() int {
	n := 0
	for _, r := range m.requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/blobs/") {
			n++
		}
	}
	return n
}

// hostsDir writes DIR/<dirName>/hosts.toml and returns DIR.
func hostsDir(t *testing.T, dirName, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, dirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, dirName, "hosts.toml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fleetImage pushes a fresh image (seed unique per test: Distribution's
// pull-through caches share in-flight downloads process-wide).
func fleetImage(t *testing.T, seed int64, upstream *testregistry.Registry, repo string) *fixtures.Image {
	t.Helper()
	img, err := fixtures.NewImage(seed, 2, 64<<10, fixtures.Docker, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := upstream.Push(context.Background(), repo, "v1", img); err != nil {
		t.Fatal(err)
	}
	return img
}

func isolated(t *testing.T) []string {
	return []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT=", "IMAGEC_CONFIG=" + filepath.Join(t.TempDir(), "none.json")}
}

// pullVia pulls ref with the hosts directory dir into a fresh store.
func pullVia(t *testing.T, dir, ref string) string {
	t.Helper()
	return mustRun(t, isolated(t), "--root", t.TempDir(), "--hosts-dir", dir, "--progress", "plain", "pull", ref)
}

// Dragonfly's node proxy tells registries apart by a header; Spegel (and
// Harbor, Zot, imagec serve) by ns=. A hosts.toml that sets the header, or
// none for ns=, pulls every blob through the mirror, and a dead mirror
// ahead of it hands over at once.
func TestHostsDirMirrorsByHeaderAndNamespace(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	img := fleetImage(t, 4101, upstream, "fleet/app")
	ref := upstream.Host + "/fleet/app:v1"
	wantHeader := "http://" + upstream.Host
	dragonfly := startMirror(t, upstream, mirrorOptions{check: func(r *http.Request) string {
		if got := r.Header.Get("X-Dragonfly-Registry"); got != wantHeader {
			return "X-Dragonfly-Registry is " + got
		}
		return ""
	}})
	spegel := startMirror(t, upstream, mirrorOptions{check: func(r *http.Request) string {
		if got := r.URL.Query().Get("ns"); got != upstream.Host {
			return "ns is " + got
		}
		return ""
	}})
	blobs := len(img.Layers) + 1

	// Dragonfly, in the directory containerd's host_port_ spelling names.
	port := upstream.Host[strings.LastIndexByte(upstream.Host, ':')+1:]
	dir := hostsDir(t, "127.0.0.1_"+port+"_", fmt.Sprintf(`
[host."http://%s"]
  capabilities = ["pull", "resolve"]
  [host."http://%s".header]
    X-Dragonfly-Registry = ["%s"]
`, dragonfly.Host, dragonfly.Host, wantHeader))
	out := pullVia(t, dir, ref)
	if strings.Contains(out, "failed") || dragonfly.refused.Load() != 0 || dragonfly.blobGets() != blobs {
		t.Fatalf("dragonfly: refused %d, served %d blobs, printed:\n%s", dragonfly.refused.Load(), dragonfly.blobGets(), out)
	}
	if n := upstream.BlobGets(); n != blobs {
		t.Fatalf("the registry sent %d blobs, want %d, all through the mirror", n, blobs)
	}

	// Without the header the mirror refuses, and the registry serves.
	dir = hostsDir(t, upstream.Host, fmt.Sprintf("[host.\"http://%s\"]\n", dragonfly.Host))
	if out := pullVia(t, dir, ref); !strings.Contains(out, "mirror "+dragonfly.Host+" failed") || dragonfly.refused.Load() == 0 {
		t.Fatalf("a header-less request was served:\n%s", out)
	}

	// Spegel behind a dead mirror; the registry itself never sees ns=.
	upstream.ResetRequests()
	dir = hostsDir(t, upstream.Host, fmt.Sprintf("[host.\"http://127.0.0.1:1\"]\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", spegel.Host))
	out = pullVia(t, dir, ref)
	if !strings.Contains(out, "mirror 127.0.0.1:1 failed, trying "+spegel.Host) || spegel.refused.Load() != 0 || spegel.blobGets() != blobs {
		t.Fatalf("spegel: refused %d, served %d blobs, printed:\n%s", spegel.refused.Load(), spegel.blobGets(), out)
	}
	pinged := false
	for _, r := range spegel.requests() {
		pinged = pinged || r.Path == "/v2/" // with ns=, as the check saw
	}
	if !pinged {
		t.Errorf("no ping reached the mirror: %v", spegel.requests())
	}
	for _, r := range upstream.Requests() {
		if strings.Contains(r.Query, "ns=") {
			t.Errorf("the registry itself got ns=: %s %s?%s", r.Method, r.Path, r.Query)
		}
	}
}

// override_path: a Harbor proxy project at /v2/hub-proxy is the API root
// as it is; a mirror under /cache gets /cache/v2.
func TestHostsDirAPIRoots(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	img := fleetImage(t, 4102, upstream, "fleet/app")
	ref := upstream.Host + "/fleet/app:v1"
	for _, tt := range []struct{ root, entry, extra string }{
		{"/v2/hub-proxy", "/v2/hub-proxy", "  override_path = true\n"},
		{"/cache/v2", "/cache", ""},
	} {
		m := startMirror(t, upstream, mirrorOptions{root: tt.root})
		dir := hostsDir(t, upstream.Host, fmt.Sprintf("server = \"http://%s%s\"\n%s", m.Host, tt.entry, tt.extra))
		out := pullVia(t, dir, ref)
		if m.refused.Load() != 0 || m.blobGets() != len(img.Layers)+1 || !strings.Contains(out, "Downloaded newer image") {
			t.Fatalf("%s: refused %d (%v), served %d blobs, printed:\n%s", tt.root, m.refused.Load(), m.requests(), m.blobGets(), out)
		}
		// The server is a mirror, so it gets ns= as containerd sends it.
		if q := m.requests()[0].Query.Get("ns"); q != upstream.Host {
			t.Errorf("%s: ns=%q", tt.root, q)
		}
	}
}

// A pull-only host (a public mirror, trusted with content by digest but
// not with what a tag means) is not asked for the tag, yet serves the
// blobs; a pull by digest asks it for the manifest too.
func TestHostsDirPullOnlyHost(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	img := fleetImage(t, 4103, upstream, "fleet/app")
	pullOnly := startMirror(t, upstream, mirrorOptions{})
	dir := hostsDir(t, upstream.Host, fmt.Sprintf("[host.\"http://%s\"]\n  capabilities = [\"pull\"]\n", pullOnly.Host))

	out := pullVia(t, dir, upstream.Host+"/fleet/app:v1")
	for _, r := range pullOnly.requests() {
		if strings.HasSuffix(r.Path, "/manifests/v1") {
			t.Errorf("the pull-only host was asked for the tag: %s %s", r.Method, r.Path)
		}
	}
	if pullOnly.blobGets() != len(img.Layers)+1 || upstream.BlobGets() != len(img.Layers)+1 {
		t.Fatalf("pull-only host served %d blobs, the registry %d (all through the host); printed:\n%s", pullOnly.blobGets(), upstream.BlobGets(), out)
	}

	before := len(pullOnly.requests())
	pullVia(t, dir, upstream.Host+"/fleet/app@"+img.ManifestDesc.Digest.String())
	asked := false
	for _, r := range pullOnly.requests()[before:] {
		asked = asked || strings.HasSuffix(r.Path, "/manifests/"+img.ManifestDesc.Digest.String())
	}
	if !asked {
		t.Errorf("a pull by digest did not ask the pull-only host for the manifest: %v", pullOnly.requests()[before:])
	}
}
