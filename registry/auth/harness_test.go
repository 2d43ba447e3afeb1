package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRegistry is a registry that demands bearer tokens from its own token
// server, both on loopback, with counters for what each one saw.
type fakeRegistry struct {
	t        *testing.T
	registry *httptest.Server
	tokens   *httptest.Server

	// Token server behaviour, set before use.
	user, pass   string        // when set, GET must carry these basic credentials
	refreshToken string        // when set, POST must carry this refresh token
	expiresIn    int           // 0 omits expires_in
	tokenStatus  int           // when set, the token server answers only this status
	tokenDelay   time.Duration // slows the token server to make requests overlap

	mu              sync.Mutex
	registryHandler http.Handler
	tokenHandler    http.Handler
	issued          int             // tokens issued
	valid           map[string]bool // tokens the registry accepts
	tokenReqs       []tokenReq
	registryHits    int
	registryAuth    []string // Authorization of each registry request
	bodies          []string // bodies of registry requests
}

type tokenReq struct {
	method              string
	service, account    string
	scopes              []string
	grant, refresh, cid string
	user, pass          string
	hasBasic            bool
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{t: t, valid: map[string]bool{}}
	f.tokenHandler = http.HandlerFunc(f.serveToken)
	f.registryHandler = http.HandlerFunc(f.serveRegistry)
	f.tokens = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		h := f.tokenHandler
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.tokens.Close)
	f.registry = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		h := f.registryHandler
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.registry.Close)
	return f
}

// wrapRegistry and wrapTokens put middleware in front of the servers.
func (f *fakeRegistry) wrapRegistry(wrap func(inner http.Handler) http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registryHandler = wrap(f.registryHandler)
}

func (f *fakeRegistry) wrapTokens(wrap func(inner http.Handler) http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenHandler = wrap(f.tokenHandler)
}

func (f *fakeRegistry) serveToken(w http.ResponseWriter, r *http.Request) {
	if f.tokenDelay > 0 {
		time.Sleep(f.tokenDelay)
	}
	_ = r.ParseForm()
	user, pass, hasBasic := r.BasicAuth()
	tr := tokenReq{
		method: r.Method, service: r.Form.Get("service"), account: r.Form.Get("account"),
		scopes: r.Form["scope"], grant: r.PostForm.Get("grant_type"), refresh: r.PostForm.Get("refresh_token"),
		cid: r.PostForm.Get("client_id"), user: user, pass: pass, hasBasic: hasBasic,
	}
	f.mu.Lock()
	f.tokenReqs = append(f.tokenReqs, tr)
	f.mu.Unlock()
	if f.tokenStatus != 0 {
		http.Error(w, "nope", f.tokenStatus)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if f.user != "" && (user != f.user || pass != f.pass) {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
	case http.MethodPost:
		if tr.grant != "refresh_token" || tr.refresh != f.refreshToken {
			http.Error(w, "bad grant", http.StatusUnauthorized)
			return
		}
	}
	f.mu.Lock()
	f.issued++
	tok := fmt.Sprintf("tok-%d", f.issued)
	f.valid[tok] = true
	f.mu.Unlock()
	resp := map[string]any{}
	if r.Method == http.MethodPost {
		resp["access_token"] = tok
	} else {
		resp["token"] = tok
	}
	if f.expiresIn != 0 {
		resp["expires_in"] = f.expiresIn
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (f *fakeRegistry) serveRegistry(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	authz := r.Header.Get("Authorization")
	f.mu.Lock()
	f.registryHits++
	f.registryAuth = append(f.registryAuth, authz)
	f.bodies = append(f.bodies, string(body))
	ok := strings.HasPrefix(authz, "Bearer ") && f.valid[strings.TrimPrefix(authz, "Bearer ")]
	f.mu.Unlock()
	if !ok {
		challenge := fmt.Sprintf(`Bearer realm="%s/token",service="fake-registry"`, f.tokens.URL)
		if name := repositoryFromPath(r.URL.Path); name != "" {
			challenge += fmt.Sprintf(`,scope="repository:%s:pull"`, name)
		}
		w.Header().Set("WWW-Authenticate", challenge)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// revokeAll makes the registry refuse every token issued so far.
func (f *fakeRegistry) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

func (f *fakeRegistry) counts() (tokenReqs, registryHits int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenReqs), f.registryHits
}

func (f *fakeRegistry) lastTokenReq() tokenReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tokenReqs) == 0 {
		f.t.Fatal("no token request was made")
	}
	return f.tokenReqs[len(f.tokenReqs)-1]
}

// get sends GET path to the registry through client and checks for 200 "ok".
func (f *fakeRegistry) get(client *http.Client, path string) {
	f.t.Helper()
	resp, err := f.do(client, http.MethodGet, path, nil)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: status %d, want 200", path, resp.StatusCode)
	}
}

func (f *fakeRegistry) do(client *http.Client, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, f.registry.URL+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, nil
}

// registryHost is the fake registry's host:port as the transport keys it.
func (f *fakeRegistry) registryHost() string {
	u, _ := url.Parse(f.registry.URL)
	return u.Host
}

// fakeClock is a settable clock for token expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func staticCreds(c Credential) CredentialFunc {
	return func(context.Context, string) (Credential, error) { return c, nil }
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
