package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry/auth"
)

func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	t.Parallel()
	content := []byte("layer")
	desc := blobDesc(content)
	var plainHits counter
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.hit()
		w.Write(content)
	}))
	defer plain.Close()
	var redirects counter
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		redirects.hit()
		http.Redirect(w, r, plain.URL+"/blob?X-Amz-Signature=secret", http.StatusTemporaryRedirect)
	}))
	defer tlsSrv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())

	c := newTestClient(t, WithRootCAs(pool))
	_, _, err := c.OpenBlob(context.Background(), refOn(t, tlsSrv, "repo:tag"), desc, 0)
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "https to http") {
		t.Fatalf("err = %v, want a refused downgrade (ErrUnsupported)", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the redirect's query string: %v", err)
	}
	if plainHits.get() != 0 {
		t.Error("the plain-http target was contacted")
	}
	if got := redirects.get(); got != 1 {
		t.Errorf("registry asked %d times, want 1 (a refused redirect is not retried)", got)
	}
}

// Server A challenges for basic credentials and redirects the blob to server
// B; B must never see A's credentials.
func TestRedirectToOtherHostCarriesNoAuthorization(t *testing.T) {
	t.Parallel()
	content := []byte("layer bytes")
	desc := blobDesc(content)
	var bAuth, bHits counter
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bHits.hit()
		if r.Header.Get("Authorization") != "" {
			bAuth.hit()
		}
		if r.Header.Get("Range") != "bytes=3-" || !strings.HasPrefix(r.Header.Get("User-Agent"), "imagec/") {
			http.Error(w, "headers lost in redirect", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Range", "bytes 3-10/11")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(content[3:])
	}))
	defer b.Close()
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if user, pass, ok := r.BasicAuth(); !ok || user != "alice" || pass != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// B is reached by another name, so nothing about the host matches.
		target := strings.Replace(b.URL, "127.0.0.1", "localhost", 1)
		http.Redirect(w, r, target+"/storage/blob?sig=abc", http.StatusTemporaryRedirect)
	}))
	defer a.Close()

	var asked []string
	creds := func(_ context.Context, host string) (auth.Credential, error) {
		asked = append(asked, host)
		return auth.Credential{Username: "alice", Password: "s3cret"}, nil
	}
	c := newTestClient(t, WithCredentials(creds))
	rc, start, err := c.OpenBlob(context.Background(), refOn(t, a, "repo:tag"), desc, 3)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	defer rc.Close()
	if start != 3 {
		t.Errorf("start = %d, want 3", start)
	}
	if bHits.get() != 1 || bAuth.get() != 0 {
		t.Errorf("B saw %d requests, %d with Authorization; want 1, 0", bHits.get(), bAuth.get())
	}
	for _, h := range asked {
		if h != hostOf(a) {
			t.Errorf("credentials were looked up for %q, want only %q", h, hostOf(a))
		}
	}
}

func TestCheckRedirect(t *testing.T) {
	t.Parallel()
	req := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	many := make([]*http.Request, maxRedirects)
	for i := range many {
		many[i] = req("https://cdn.example/x")
	}
	tests := []struct {
		name string
		next string
		via  []*http.Request
		want error
	}{
		{"https to https", "https://cdn.example/b", []*http.Request{req("https://r.example/v2/")}, nil},
		{"http to https", "https://cdn.example/b", []*http.Request{req("http://localhost/v2/")}, nil},
		{"http to http", "http://localhost:9/b", []*http.Request{req("http://localhost/v2/")}, nil},
		{"https to http", "http://cdn.example/b", []*http.Request{req("https://r.example/v2/")}, errdefs.ErrUnsupported},
		{"downgrade later in chain", "http://cdn.example/b", []*http.Request{req("https://r.example/v2/"), req("https://cdn.example/a")}, errdefs.ErrUnsupported},
		{"too many", "https://cdn.example/b", many, errTooManyRedirects},
		{"public to loopback", "https://127.0.0.1:8443/b", []*http.Request{req("https://r.example/v2/")}, errdefs.ErrDenied},
		{"public to private", "https://10.1.2.3/b", []*http.Request{req("https://r.example/v2/")}, errdefs.ErrDenied},
		{"public to localhost", "https://localhost/b", []*http.Request{req("https://r.example/v2/")}, errdefs.ErrDenied},
		{"loopback to loopback", "http://127.0.0.1:9/b", []*http.Request{req("http://127.0.0.1:8/v2/")}, nil},
	}
	for _, tt := range tests {
		err := checkRedirect(req(tt.next), tt.via)
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: checkRedirect = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// A registry reached by a public name that redirects a blob to a loopback
// address is refused before the address is contacted (server-side request
// forgery against this machine), through the client's own redirect path.
func TestRedirectFromPublicToInternalRefused(t *testing.T) {
	t.Parallel()
	content := []byte("layer")
	desc := blobDesc(content)
	var internalHits counter
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.hit()
		w.Write(content)
	}))
	defer internal.Close()
	var redirects counter
	public := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		redirects.hit()
		http.Redirect(w, r, internal.URL+"/admin/blob", http.StatusTemporaryRedirect)
	})
	// registry.example.com is dialled at the fake registry's loopback address,
	// so the client sees a public name.
	var d net.Dialer
	c := newTestClient(t, WithInsecureAllowHTTP(true), WithTransport(&http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasPrefix(addr, "registry.example.com:") {
				addr = hostOf(public)
			}
			return d.DialContext(ctx, network, addr)
		},
	}))
	ref, err := reference.Parse("registry.example.com/repo:tag")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.OpenBlob(context.Background(), ref, desc, 0)
	if !errors.Is(err, errdefs.ErrDenied) || !strings.Contains(err.Error(), "internal address") {
		t.Fatalf("err = %v, want the redirect to an internal address refused (ErrDenied)", err)
	}
	if internalHits.get() != 0 {
		t.Errorf("the internal address was contacted %d times", internalHits.get())
	}
	if redirects.get() == 0 {
		t.Error("the registry was never asked: the test did not reach the redirect")
	}
}
