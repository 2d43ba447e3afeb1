package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

func TestBasicChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cred       Credential
		wantStatus []int
		wantHits   int
	}{
		{"good credentials are sent up front after the first 401", Credential{Username: "bob", Password: "pw"}, []int{200, 200}, 3},
		{"no credentials returns the 401", Credential{}, []int{401, 401}, 2},
		{"rejected credentials are not resent up front", Credential{Username: "bob", Password: "bad"}, []int{401, 401}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			hits := 0
			reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits++
				mu.Unlock()
				if u, p, ok := r.BasicAuth(); ok && u == "bob" && p == "pw" {
					return
				}
				w.Header().Set("WWW-Authenticate", `Basic realm="Registry"`)
				w.WriteHeader(http.StatusUnauthorized)
			}))
			t.Cleanup(reg.Close)
			client := &http.Client{Transport: NewTransport(nil, WithCredentials(staticCreds(tt.cred)))}
			for i, want := range tt.wantStatus {
				resp, err := client.Get(reg.URL + "/v2/foo/manifests/latest")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if hits != tt.wantHits {
				t.Errorf("registry hits %d, want %d", hits, tt.wantHits)
			}
		})
	}
}

func TestRealmPolicyThroughTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		challenge string
		opts      []Option
	}{
		{"http realm", `Bearer realm="http://auth.example.com/token",service="r"`, nil},
		{"private IP realm", `Bearer realm="https://10.0.0.1/token",service="r"`, nil},
		{"metadata realm", `Bearer realm="https://169.254.169.254/token",service="r"`, nil},
		{"custom policy", `Bearer realm="https://auth.example.com/token",service="r"`, []Option{
			WithRealmCheck(func(host string, realm *url.URL) error {
				if host != "registry.example.com" || realm.Host != "auth.example.com" {
					return errors.New("policy got wrong arguments")
				}
				return errdefs.ErrDenied
			}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var hosts []string
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				hosts = append(hosts, r.URL.Host)
				mu.Unlock()
				if r.URL.Host != "registry.example.com" {
					return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"token":"x"}`)), Request: r}, nil
				}
				h := http.Header{}
				h.Set("WWW-Authenticate", tt.challenge)
				return &http.Response{StatusCode: 401, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
			})
			opts := append([]Option{WithCredentials(staticCreds(Credential{Username: "u", Password: "p"}))}, tt.opts...)
			req, _ := http.NewRequest(http.MethodGet, "https://registry.example.com/v2/foo/manifests/latest", nil)
			_, err := NewTransport(base, opts...).RoundTrip(req)
			if !errors.Is(err, errdefs.ErrDenied) {
				t.Fatalf("RoundTrip error %v, want ErrDenied", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(hosts, []string{"registry.example.com"}) {
				t.Errorf("requests went to %q, want only the registry", hosts)
			}
		})
	}
}

func TestRealmRedirectIsCheckedAndStripped(t *testing.T) {
	t.Parallel()
	// The realm (loopback registry, so http is fine) redirects to another
	// port; the policy runs on the hop and basic credentials do not follow.
	f := newFakeRegistry(t)
	var mu sync.Mutex
	var checked []string
	sawAuth := "unset"
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = r.Header.Get("Authorization")
		mu.Unlock()
		f.serveToken(w, r)
	}))
	t.Cleanup(target.Close)
	f.wrapTokens(func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/token?"+r.URL.RawQuery, http.StatusFound)
		})
	})
	tr := NewTransport(nil,
		WithCredentials(staticCreds(Credential{Username: "alice", Password: "s3cret"})),
		WithRealmCheck(func(host string, realm *url.URL) error {
			mu.Lock()
			defer mu.Unlock()
			checked = append(checked, realm.Host)
			return nil
		}))
	f.get(&http.Client{Transport: tr}, "/v2/foo/manifests/latest")
	want := []string{strings.TrimPrefix(f.tokens.URL, "http://"), strings.TrimPrefix(target.URL, "http://")}
	mu.Lock()
	defer mu.Unlock()
	if sawAuth != "" {
		t.Errorf("redirected token request carried Authorization (%d bytes)", len(sawAuth))
	}
	if !slices.Equal(checked, want) {
		t.Errorf("policy checked %q, want %q", checked, want)
	}
}

func TestCredentialErrorIsReturned(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	boom := errors.New("helper exploded")
	tr := NewTransport(nil, WithCredentials(func(context.Context, string) (Credential, error) {
		return Credential{}, boom
	}))
	_, err := f.do(&http.Client{Transport: tr}, http.MethodGet, "/v2/foo/manifests/latest", nil)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the credential error", err)
	}
}

func TestUserAgent(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var agents []string
	f := newFakeRegistry(t)
	record := func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			agents = append(agents, r.UserAgent())
			mu.Unlock()
			inner.ServeHTTP(w, r)
		})
	}
	f.wrapRegistry(record)
	f.wrapTokens(record)
	f.get(&http.Client{Transport: NewTransport(nil, WithUserAgent("imagec/test"))}, "/v2/foo/manifests/latest")
	mu.Lock()
	defer mu.Unlock()
	if len(agents) != 3 {
		t.Fatalf("saw %d requests, want 3", len(agents))
	}
	for _, a := range agents {
		if a != "imagec/test" {
			t.Errorf("User-Agent %q", a)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://Registry.Example.com:443/v2/": "registry.example.com",
		"http://localhost:80/v2/":              "localhost",
		"http://localhost:5000/v2/":            "localhost:5000",
		"https://[::1]:443/v2/":                "[::1]",
	} {
		u, _ := url.Parse(in)
		if got := canonicalHost(u); got != want {
			t.Errorf("canonicalHost(%s) = %q, want %q", in, got, want)
		}
	}
}
