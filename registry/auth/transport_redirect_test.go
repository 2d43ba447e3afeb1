package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// witness is a server that challenges like a registry (basic, or bearer with
// its own token server) and records every Authorization header it and its
// token server receive.
type witness struct {
	srv, tokens *httptest.Server

	mu         sync.Mutex
	auths      []string // Authorization of each request to srv
	tokenAuths []string // Authorization of each request to the token server
}

func newWitness(t *testing.T, bearer bool) *witness {
	t.Helper()
	w := &witness{}
	w.tokens = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.tokenAuths = append(w.tokenAuths, r.Header.Get("Authorization"))
		w.mu.Unlock()
		fmt.Fprint(rw, `{"token":"witness-token"}`)
	}))
	t.Cleanup(w.tokens.Close)
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		w.mu.Lock()
		w.auths = append(w.auths, got)
		w.mu.Unlock()
		if got != "" {
			return // 200: whatever arrived is accepted
		}
		if bearer {
			rw.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="witness"`, w.tokens.URL))
		} else {
			rw.Header().Set("WWW-Authenticate", `Basic realm="witness"`)
		}
		rw.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *witness) seen() (registry, token []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.auths...), append([]string(nil), w.tokenAuths...)
}

// redirector answers every request with a 307 to the same path on target.
func redirector(t *testing.T, target string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, target+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A registry that redirects to another host must not get that host the
// caller's credentials: not up front, not in answer to its challenge, not
// through its token realm, and not when the transport already holds
// credentials for that host from talking to it directly.
func TestNoCredentialsOverRedirectToOtherHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		bearer      bool
		knownBefore bool // the transport talked to the target directly first
	}{
		{"basic challenge", false, false},
		{"bearer challenge", true, false},
		{"target already known (basic)", false, true},
		{"target already known (bearer)", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := newWitness(t, tc.bearer)
			from := redirector(t, target.srv.URL)
			var mu sync.Mutex
			var asked []string
			creds := func(_ context.Context, host string) (Credential, error) {
				mu.Lock()
				asked = append(asked, host)
				mu.Unlock()
				return Credential{Username: "alice", Password: "s3cret"}, nil
			}
			client := &http.Client{Transport: NewTransport(nil, WithCredentials(creds))}
			get := func(url string) int {
				t.Helper()
				resp, err := client.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			direct := 0
			if tc.knownBefore {
				if status := get(target.srv.URL + "/v2/"); status != http.StatusOK {
					t.Fatalf("direct request: status %d, want 200", status)
				}
				got, _ := target.seen()
				direct = len(got)
				mu.Lock()
				asked = nil
				mu.Unlock()
			}
			if status := get(from.URL + "/v2/"); status != http.StatusUnauthorized {
				t.Errorf("redirected request: status %d, want the target's 401 unanswered", status)
			}
			regAuths, tokenAuths := target.seen()
			if len(regAuths) <= direct {
				t.Fatal("the redirect never reached the target")
			}
			for i, a := range regAuths[direct:] {
				if a != "" {
					t.Errorf("redirected request %d reached %s with Authorization %q", i, target.srv.URL, a)
				}
			}
			if !tc.knownBefore && len(tokenAuths) != 0 {
				t.Errorf("the target's token realm was asked %d times over a redirect", len(tokenAuths))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(asked) != 0 {
				t.Errorf("credentials looked up for %v over a redirect", asked)
			}
		})
	}
}

// A redirect within one host (another path) keeps the host's credentials:
// the guard is about hosts, not about redirects as such.
func TestCredentialsKeptOverRedirectWithinHost(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var final []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/old" {
			http.Redirect(rw, r, "/v2/new", http.StatusTemporaryRedirect)
			return
		}
		if u, p, ok := r.BasicAuth(); ok && u == "alice" && p == "s3cret" {
			mu.Lock()
			final = append(final, r.URL.Path)
			mu.Unlock()
			return
		}
		rw.Header().Set("WWW-Authenticate", `Basic realm="r"`)
		rw.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: NewTransport(nil, WithCredentials(staticCreds(Credential{Username: "alice", Password: "s3cret"})))}
	resp, err := client.Get(srv.URL + "/v2/old")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(final) != 1 || final[0] != "/v2/new" {
		t.Fatalf("authorized requests %v, want [/v2/new]", final)
	}
}
