package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/imagec/imagec/reference"
)

// recorder is a loopback registry that records every request's path, query
// and one header, and answers the distribution routes a view uses.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path?query header"
}

func newRecorder(t *testing.T, header string, handler http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, fmt.Sprintf("%s %s?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get(header)))
		rec.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// serveAll answers pings, manifests, blobs and a two-page tag list whose
// next link drops the query.
func serveAll(content []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasSuffix(p, "/tags/list") && r.URL.Query().Get("last") == "":
			w.Header().Set("Link", fmt.Sprintf(`<%s?last=a&n=1>; rel="next"`, p))
			fmt.Fprint(w, `{"tags":["a"]}`)
		case strings.HasSuffix(p, "/tags/list"):
			fmt.Fprint(w, `{"tags":["b"]}`)
		case strings.Contains(p, "/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(content)
		case strings.Contains(p, "/blobs/"):
			w.Write(content)
		}
	}
}

func TestViaSendsNamespaceRootAndHeadersToMirrors(t *testing.T) {
	t.Parallel()
	content := []byte(`{"schemaVersion":2}`)
	desc := blobDesc(content)
	mirror := newRecorder(t, "X-Dragonfly-Registry", serveAll(content))
	upstream := newRecorder(t, "X-Dragonfly-Registry", serveAll(content))
	ns := hostOf(upstream.srv)

	c := newTestClient(t).Via(ns,
		Endpoint{Host: hostOf(mirror.srv), Root: "/cache/v2/", Header: http.Header{"x-dragonfly-registry": {"http://" + ns}}},
		Endpoint{Host: ns, Header: http.Header{"X-Dragonfly-Registry": {"upstream"}}})
	ctx := context.Background()
	for _, srv := range []*httptest.Server{mirror.srv, upstream.srv} {
		ref := refOn(t, srv, "library/alpine:3")
		if err := c.Ping(ctx, ref.Host()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetManifest(ctx, ref, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.HeadManifest(ctx, ref, nil); err != nil {
			t.Fatal(err)
		}
		body, _, err := c.OpenBlob(ctx, ref, desc, 0)
		if err != nil {
			t.Fatal(err)
		}
		body.Close()
		if tags, err := c.Tags(ctx, ref, TagPageSize(1)); err != nil || strings.Join(tags, ",") != "a,b" {
			t.Fatalf("tags %v, %v", tags, err)
		}
	}
	q := "ns=" + strings.ReplaceAll(ns, ":", "%3A")
	wantMirror := []string{
		"GET /cache/v2/?" + q + " http://" + ns,
		"GET /cache/v2/library/alpine/manifests/3?" + q + " http://" + ns,
		"HEAD /cache/v2/library/alpine/manifests/3?" + q + " http://" + ns,
		"GET /cache/v2/library/alpine/blobs/" + desc.Digest.String() + "?" + q + " http://" + ns,
		"GET /cache/v2/library/alpine/tags/list?n=1&" + q + " http://" + ns,
		"GET /cache/v2/library/alpine/tags/list?last=a&n=1&" + q + " http://" + ns,
	}
	if got := mirror.requests(); strings.Join(got, "\n") != strings.Join(wantMirror, "\n") {
		t.Errorf("the mirror saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantMirror, "\n"))
	}
	// The registry itself: its own header, its usual root, no ns=.
	for _, r := range upstream.requests() {
		if strings.Contains(r, "ns=") || !strings.HasSuffix(r, " upstream") || !strings.Contains(r, " /v2/") {
			t.Errorf("the registry itself saw %q", r)
		}
	}

	// The client the view was made from is unchanged.
	plain := newRecorder(t, "X-Dragonfly-Registry", serveAll(content))
	if _, err := newTestClient(t).GetManifest(ctx, refOn(t, plain.srv, "a:b"), nil); err != nil {
		t.Fatal(err)
	}
	if got := plain.requests(); len(got) != 2 || got[1] != "GET /v2/a/manifests/b? " {
		t.Errorf("a client without a view sent %q", got)
	}
}

// override_path: the root is the whole API path, without /v2.
func TestViaRootWithoutV2(t *testing.T) {
	t.Parallel()
	content := []byte(`{}`)
	mirror := newRecorder(t, "", serveAll(content))
	c := newTestClient(t).Via("docker.io", Endpoint{Host: hostOf(mirror.srv), Root: "/api"})
	if _, err := c.GetManifest(context.Background(), refOn(t, mirror.srv, "library/alpine:3"), nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /api/?ns=docker.io ", "GET /api/library/alpine/manifests/3?ns=docker.io "}
	if got := mirror.requests(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("saw %q, want %q", got, want)
	}
}

// An endpoint's headers stay with it: a blob redirected to another host
// arrives there without them, and without ns=.
func TestViaHeadersDoNotFollowRedirects(t *testing.T) {
	t.Parallel()
	content := []byte("layer")
	desc := blobDesc(content)
	cdn := newRecorder(t, "X-Secret", func(w http.ResponseWriter, r *http.Request) { w.Write(content) })
	mirror := newRecorder(t, "X-Secret", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		http.Redirect(w, r, cdn.srv.URL+"/blob", http.StatusTemporaryRedirect)
	})
	c := newTestClient(t).Via("docker.io", Endpoint{Host: hostOf(mirror.srv), Header: http.Header{"X-Secret": {"s3cr3t"}}})
	ref, _ := reference.Parse(hostOf(mirror.srv) + "/a:b")
	body, _, err := c.OpenBlob(context.Background(), ref, desc, 0)
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	if got := cdn.requests(); len(got) != 1 || got[0] != "GET /blob? " {
		t.Errorf("the redirect target saw %q", got)
	}
	if got := mirror.requests(); len(got) != 2 || !strings.HasSuffix(got[1], " s3cr3t") {
		t.Errorf("the mirror saw %q", got)
	}
}
