package auth

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Credentials the transport learned from a host over https are never sent
// to that host over plain http: neither up front nor in answer to a
// challenge that arrives over http.
func TestNoCredentialsOverPlainHTTPAfterHTTPS(t *testing.T) {
	t.Parallel()
	for _, bearer := range []bool{false, true} {
		t.Run(fmt.Sprintf("bearer=%v", bearer), func(t *testing.T) {
			t.Parallel()
			const user, pass = "alice", "s3cret"
			secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/token" {
					fmt.Fprint(w, `{"token":"tls-token"}`)
					return
				}
				if u, p, ok := r.BasicAuth(); ok && u == user && p == pass || r.Header.Get("Authorization") == "Bearer tls-token" {
					return
				}
				if bearer {
					w.Header().Set("WWW-Authenticate", `Bearer realm="https://registry.test/token",service="s"`)
				} else {
					w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
				}
				w.WriteHeader(http.StatusUnauthorized)
			}))
			t.Cleanup(secure.Close)
			var mu sync.Mutex
			var cleartext []string // Authorization of each plain http request
			plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				cleartext = append(cleartext, r.Header.Get("Authorization"))
				mu.Unlock()
				if r.Header.Get("Authorization") != "" {
					return
				}
				if bearer {
					w.Header().Set("WWW-Authenticate", `Bearer realm="http://registry.test/token",service="s"`)
				} else {
					w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
				}
				w.WriteHeader(http.StatusUnauthorized)
			}))
			t.Cleanup(plain.Close)

			// One host name, registry.test, served over https on :443
			// and over http on :80: the transport keys both as the same
			// host.
			base := secure.Client().Transport.(*http.Transport).Clone()
			base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test server
			dial := (&net.Dialer{}).DialContext
			base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				switch addr {
				case "registry.test:443":
					return dial(ctx, network, secure.Listener.Addr().String())
				case "registry.test:80":
					return dial(ctx, network, plain.Listener.Addr().String())
				}
				return nil, fmt.Errorf("unexpected dial to %s", addr)
			}
			tr := NewTransport(base,
				WithCredentials(staticCreds(Credential{Username: user, Password: pass})),
				WithRealmCheck(func(string, *url.URL) error { return nil }))
			client := &http.Client{Transport: tr}
			get := func(u string) int {
				t.Helper()
				resp, err := client.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if status := get("https://registry.test/v2/repo/manifests/latest"); status != http.StatusOK {
				t.Fatalf("over https: status %d, want 200", status)
			}
			if status := get("http://registry.test/v2/repo/manifests/latest"); status != http.StatusUnauthorized {
				t.Errorf("over http: status %d, want the 401 unanswered", status)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(cleartext) == 0 {
				t.Fatal("no request reached the plain http server")
			}
			for i, a := range cleartext {
				if a != "" {
					t.Errorf("plain http request %d carried Authorization %q", i, a)
				}
			}
		})
	}
}
