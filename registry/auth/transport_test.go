package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

func TestBearerFlows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(f *fakeRegistry) Credential
		check func(t *testing.T, tr tokenReq)
	}{
		{
			name:  "anonymous",
			setup: func(*fakeRegistry) Credential { return Credential{} },
			check: func(t *testing.T, tr tokenReq) {
				if tr.method != http.MethodGet || tr.hasBasic || tr.account != "" {
					t.Errorf("token request %+v, want anonymous GET", tr)
				}
			},
		},
		{
			name: "basic credentials go to the realm",
			setup: func(f *fakeRegistry) Credential {
				f.user, f.pass = "alice", "s3cret"
				return Credential{Username: "alice", Password: "s3cret"}
			},
			check: func(t *testing.T, tr tokenReq) {
				if tr.method != http.MethodGet || tr.user != "alice" || tr.pass != "s3cret" || tr.account != "alice" {
					t.Errorf("token request %+v, want GET with basic alice and account=alice", tr)
				}
			},
		},
		{
			name: "identity token is exchanged by POST",
			setup: func(f *fakeRegistry) Credential {
				f.refreshToken = "refresh-me"
				return Credential{Username: "alice", IdentityToken: "refresh-me"}
			},
			check: func(t *testing.T, tr tokenReq) {
				if tr.method != http.MethodPost || tr.grant != "refresh_token" || tr.refresh != "refresh-me" ||
					tr.cid != "imagec" || tr.hasBasic {
					t.Errorf("token request %+v, want refresh_token POST without basic auth", tr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeRegistry(t)
			cred := tt.setup(f)
			var askedHost string
			tr := NewTransport(nil, WithCredentials(func(_ context.Context, host string) (Credential, error) {
				askedHost = host
				return cred, nil
			}))
			f.get(&http.Client{Transport: tr}, "/v2/library/alpine/manifests/latest")

			nTok, nReg := f.counts()
			if nTok != 1 || nReg != 2 {
				t.Fatalf("token requests %d, registry hits %d; want 1 and 2 (401 then retry)", nTok, nReg)
			}
			last := f.lastTokenReq()
			if last.service != "fake-registry" || !slices.Equal(last.scopes, []string{"repository:library/alpine:pull"}) {
				t.Errorf("token request service %q scopes %q", last.service, last.scopes)
			}
			tt.check(t, last)
			if askedHost != f.registryHost() {
				t.Errorf("credentials asked for %q, want %q", askedHost, f.registryHost())
			}
			if got := f.registryAuth[1]; got != "Bearer tok-1" {
				t.Errorf("retry carried %q, want the token", got)
			}
		})
	}
}

func TestTokenIsCachedPerScope(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	f.expiresIn = 300
	client := &http.Client{Transport: NewTransport(nil)}
	for range 5 {
		f.get(client, "/v2/foo/manifests/latest")
	}
	if nTok, nReg := f.counts(); nTok != 1 || nReg != 6 {
		t.Fatalf("token requests %d, registry hits %d; want 1 and 6", nTok, nReg)
	}
	// A new repository on a host known to want tokens: the token is fetched
	// before the request, which then goes out once.
	f.get(client, "/v2/bar/blobs/sha256:abc")
	if nTok, nReg := f.counts(); nTok != 2 || nReg != 7 {
		t.Fatalf("token requests %d, registry hits %d; want 2 and 7", nTok, nReg)
	}
	if got := f.lastTokenReq().scopes; !slices.Equal(got, []string{"repository:bar:pull"}) {
		t.Errorf("proactive token scopes %q", got)
	}
	f.get(client, "/v2/foo/tags/list")
	if nTok, _ := f.counts(); nTok != 2 {
		t.Fatalf("token requests %d after reusing foo's scope, want 2", nTok)
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		expiresIn int
		stillGood time.Duration
		expired   time.Duration
	}{
		{"explicit lifetime", 300, 200 * time.Second, 300 * time.Second},
		{"default 60s lifetime", 0, 30 * time.Second, 60 * time.Second},
		{"short lifetime raised to 60s", 10, 30 * time.Second, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeRegistry(t)
			f.expiresIn = tt.expiresIn
			clock := &fakeClock{now: time.Now()}
			tr := NewTransport(nil)
			tr.now = clock.Now
			client := &http.Client{Transport: tr}

			f.get(client, "/v2/foo/manifests/latest")
			clock.Advance(tt.stillGood)
			f.get(client, "/v2/foo/manifests/latest")
			if nTok, _ := f.counts(); nTok != 1 {
				t.Fatalf("token requests %d before expiry, want 1", nTok)
			}
			clock.Advance(tt.expired)
			f.get(client, "/v2/foo/manifests/latest")
			nTok, nReg := f.counts()
			if nTok != 2 || nReg != 4 {
				t.Fatalf("after expiry: token requests %d, registry hits %d; want 2 and 4 (refreshed up front)", nTok, nReg)
			}
			if got := f.registryAuth[3]; got != "Bearer tok-2" {
				t.Errorf("request after expiry carried %q, want the new token", got)
			}
		})
	}
}

func TestRejectedCachedTokenIsRefetched(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	f.expiresIn = 3600
	client := &http.Client{Transport: NewTransport(nil)}
	f.get(client, "/v2/foo/manifests/latest")
	f.revokeAll()
	f.get(client, "/v2/foo/manifests/latest")
	nTok, nReg := f.counts()
	if nTok != 2 || nReg != 4 {
		t.Fatalf("token requests %d, registry hits %d; want 2 and 4", nTok, nReg)
	}
	if want := []string{"", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"}; !slices.Equal(f.registryAuth, want) {
		t.Errorf("registry saw %q, want %q", f.registryAuth, want)
	}
	// The fresh token is what the cache holds now.
	f.get(client, "/v2/foo/manifests/latest")
	if nTok, _ := f.counts(); nTok != 2 {
		t.Errorf("token requests %d, want the refetched token reused", nTok)
	}
}

func TestPersistent401IsReturned(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+f.tokens.URL+`/token",service="x",scope="repository:foo:pull",error="insufficient_scope"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(reg.Close)
	resp, err := (&http.Client{Transport: NewTransport(nil)}).Get(reg.URL + "/v2/foo/manifests/latest")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want the 401 returned", resp.StatusCode)
	}
	if nTok, _ := f.counts(); nTok != 1 {
		t.Errorf("token requests %d, want exactly one (no loop)", nTok)
	}
}

func TestConcurrentRequestsShareOneTokenFetch(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	f.expiresIn = 300
	f.tokenDelay = 50 * time.Millisecond
	client := &http.Client{Transport: NewTransport(nil)}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			resp, err := f.do(client, http.MethodGet, "/v2/foo/blobs/sha256:abc", nil)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = errors.New(resp.Status)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if nTok, _ := f.counts(); nTok != 1 {
		t.Fatalf("token requests %d, want 1 shared fetch", nTok)
	}
}

func TestNoAuthorizationOnRedirectToAnotherHost(t *testing.T) {
	t.Parallel()
	var cdnMu sync.Mutex
	var cdnAuth []string
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnMu.Lock()
		cdnAuth = append(cdnAuth, r.Header.Get("Authorization"))
		cdnMu.Unlock()
		_, _ = io.WriteString(w, "blob bytes")
	}))
	t.Cleanup(cdn.Close)
	f := newFakeRegistry(t)
	f.user, f.pass = "alice", "s3cret"
	// Wrap the registry: authorized blob requests redirect to the CDN, which
	// shares the host name 127.0.0.1 but not the port.
	f.wrapRegistry(func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/blobs/") && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				http.Redirect(w, r, cdn.URL+"/blob?sig=presigned", http.StatusTemporaryRedirect)
				return
			}
			inner.ServeHTTP(w, r)
		})
	})
	client := &http.Client{Transport: NewTransport(nil, WithCredentials(staticCreds(Credential{Username: "alice", Password: "s3cret"})))}

	for _, callerAuth := range []string{"", "Bearer caller-set-secret"} {
		req, _ := http.NewRequest(http.MethodGet, f.registry.URL+"/v2/foo/blobs/sha256:abc", nil)
		if callerAuth != "" {
			req.Header.Set("Authorization", callerAuth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "blob bytes" {
			t.Fatalf("body %q, want the CDN's", body)
		}
	}
	cdnMu.Lock()
	defer cdnMu.Unlock()
	if len(cdnAuth) != 2 {
		t.Fatalf("CDN hits %d, want 2", len(cdnAuth))
	}
	for i, a := range cdnAuth {
		if a != "" {
			t.Errorf("CDN request %d carried Authorization %q", i, a)
		}
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		wantErr error
	}{
		{"unauthorized", http.StatusUnauthorized, errdefs.ErrUnauthorized},
		{"forbidden", http.StatusForbidden, errdefs.ErrUnauthorized},
		{"server error", http.StatusInternalServerError, errdefs.ErrUnavailable},
		{"not found", http.StatusNotFound, errdefs.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeRegistry(t)
			f.tokenStatus = tt.status
			tr := NewTransport(nil, WithCredentials(staticCreds(Credential{Username: "alice", Password: "hunter2"})))
			_, err := f.do(&http.Client{Transport: tr}, http.MethodGet, "/v2/foo/manifests/latest", nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			msg := err.Error()
			tokenHost := strings.TrimPrefix(f.tokens.URL, "http://")
			if !strings.Contains(msg, tokenHost) || !strings.Contains(msg, f.registryHost()) {
				t.Errorf("error %q does not name realm %s and registry %s", msg, tokenHost, f.registryHost())
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "alice") {
				t.Errorf("error %q leaks credentials", msg)
			}
		})
	}
}

func TestRefreshTokenFallsBackToGETWithout_POST(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	f.wrapTokens(func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				http.NotFound(w, r)
				return
			}
			inner.ServeHTTP(w, r)
		})
	})
	tr := NewTransport(nil, WithCredentials(staticCreds(Credential{IdentityToken: "refresh-me"})))
	f.get(&http.Client{Transport: tr}, "/v2/foo/manifests/latest")
	if last := f.lastTokenReq(); last.method != http.MethodGet {
		t.Errorf("last token request %s, want the GET fallback", last.method)
	}
}

func TestRegistryTokenIsSentAsIs(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	f.valid["pre-issued"] = true
	tr := NewTransport(nil, WithCredentials(staticCreds(Credential{RegistryToken: "pre-issued"})))
	f.get(&http.Client{Transport: tr}, "/v2/foo/manifests/latest")
	if nTok, _ := f.counts(); nTok != 0 {
		t.Errorf("token requests %d, want none", nTok)
	}
	if got := f.registryAuth[1]; got != "Bearer pre-issued" {
		t.Errorf("retry carried %q", got)
	}
}

func TestBodyIsReplayedOnRetry(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	f.expiresIn = 300
	client := &http.Client{Transport: NewTransport(nil)}
	resp, err := f.do(client, http.MethodPost, "/v2/foo/blobs/uploads/", strings.NewReader("payload"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %v %v", resp, err)
	}
	if want := []string{"payload", "payload"}; !slices.Equal(f.bodies, want) {
		t.Errorf("registry bodies %q, want %q", f.bodies, want)
	}
	if got := f.lastTokenReq().scopes; !slices.Equal(got, []string{"repository:foo:pull"}) {
		t.Errorf("scopes %q, want the challenge's", got)
	}
}

func TestUnreplayableBodyReturns401ButCachesToken(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry(t)
	f.expiresIn = 300
	tr := NewTransport(nil)
	send := func() *http.Response {
		req, _ := http.NewRequest(http.MethodGet, f.registry.URL+"/v2/foo/manifests/latest", io.NopCloser(strings.NewReader("x")))
		req.GetBody = nil
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := send(); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("first status %d, want 401 (body cannot be resent)", resp.StatusCode)
	}
	if resp := send(); resp.StatusCode != http.StatusOK {
		t.Fatalf("second status %d, want 200 with the cached token", resp.StatusCode)
	}
	if nTok, nReg := f.counts(); nTok != 1 || nReg != 2 {
		t.Errorf("token requests %d, registry hits %d; want 1 and 2", nTok, nReg)
	}
}

// A realm answering the refresh-token POST with a 307 to another host must
// not get the token replayed there.
func TestRefreshTokenPOSTNotReplayedToAnotherHost(t *testing.T) {
	t.Parallel()
	stolen := make(chan string, 1)
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case stolen <- string(b):
		default:
		}
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(thief.Close)
	other := strings.Replace(thief.URL, "127.0.0.1", "localhost", 1)
	f := newFakeRegistry(t)
	f.wrapTokens(func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				http.Redirect(w, r, other+"/steal", http.StatusTemporaryRedirect)
				return
			}
			inner.ServeHTTP(w, r)
		})
	})
	tr := NewTransport(nil, WithCredentials(staticCreds(Credential{IdentityToken: "SECRET-REFRESH"})))
	_, err := f.do(&http.Client{Transport: tr}, http.MethodGet, "/v2/foo/manifests/latest", nil)
	if !errors.Is(err, errdefs.ErrDenied) {
		t.Fatalf("got %v, want the redirect refused", err)
	}
	select {
	case body := <-stolen:
		t.Fatalf("the refresh token reached another host: %q", body)
	default:
	}
}
