package testregistry

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	// tokenPath is where the token server answers; it is the realm's path.
	tokenPath    = "/token"
	tokenService = "testregistry"
	tokenIssuer  = "testregistry-token-issuer"
	// tokenTTL is short so long-running tests exercise token renewal, but
	// well above the registry's 60s leeway.
	tokenTTL = 5 * time.Minute
)

// tokenServer implements the distribution token protocol: GET with basic
// credentials (docker's classic flow) and POST with an OAuth2 password or
// refresh_token grant.
type tokenServer struct {
	user, pass string
	anonPull   bool
	limited    map[string]tokenUser // WithTokenUser's users
	signer     jose.Signer

	mu      sync.Mutex
	refresh map[string]string // refresh token -> user it was issued to
}

// tokenUser is a user whose rights are limited to grants, repository name
// to actions.
type tokenUser struct {
	pass   string
	grants map[string][]string
}

// newTokenServer creates the signing key: a leaf certificate from ca, sent
// in the JWT's x5c header so the registry can chain it to its
// rootcertbundle (the CA).
func newTokenServer(ca *testCA, cfg config) (*tokenServer, error) {
	cert, key, err := ca.issue("testregistry token signer")
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").
		WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(cert.Raw)})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("creating token signer: %w", err)
	}
	return &tokenServer{
		user: cfg.user, pass: cfg.pass, anonPull: cfg.anonPull, limited: cfg.tokenUsers,
		signer: signer, refresh: map[string]string{},
	}, nil
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != tokenPath {
		http.NotFound(w, r)
		return
	}
	var (
		user      string
		scopes    []string
		ok        = true
		wantFresh bool
	)
	switch r.Method {
	case http.MethodGet:
		scopes = splitScopes(r.URL.Query()["scope"])
		wantFresh = r.URL.Query().Get("offline_token") == "true"
		if u, p, hasCreds := r.BasicAuth(); hasCreds {
			user, ok = s.check(u, p)
		}
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		scopes = splitScopes(r.PostForm["scope"])
		switch r.PostForm.Get("grant_type") {
		case "password":
			user, ok = s.check(r.PostForm.Get("username"), r.PostForm.Get("password"))
			wantFresh = true
		case "refresh_token":
			s.mu.Lock()
			user, ok = s.refresh[r.PostForm.Get("refresh_token")]
			s.mu.Unlock()
		default:
			writeTokenError(w, http.StatusBadRequest, "unsupported_grant_type")
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="testregistry token server"`)
		writeTokenError(w, http.StatusUnauthorized, "invalid_grant")
		return
	}
	s.issue(w, user, scopes, wantFresh)
}

// check returns the user name when the credentials match.
func (s *tokenServer) check(user, pass string) (string, bool) {
	want, known := s.pass, user == s.user
	if lu, ok := s.limited[user]; ok {
		want, known = lu.pass, true
	}
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(want))
	return user, known && p == 1
}

func (s *tokenServer) issue(w http.ResponseWriter, user string, scopes []string, withRefresh bool) {
	now := time.Now()
	claims := token.ClaimSet{
		Issuer:     tokenIssuer,
		Subject:    user,
		Audience:   token.AudienceList{tokenService},
		Expiration: now.Add(tokenTTL).Unix(),
		NotBefore:  now.Add(-time.Second).Unix(),
		IssuedAt:   now.Unix(),
		JWTID:      randomHex(16),
		Access:     s.grant(user, scopes),
	}
	raw, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		http.Error(w, "signing token failed", http.StatusInternalServerError)
		return
	}
	resp := map[string]any{
		"token":        raw,
		"access_token": raw,
		"expires_in":   int(tokenTTL / time.Second),
		"issued_at":    now.UTC().Format(time.RFC3339),
	}
	if withRefresh && user != "" {
		rt := randomHex(16)
		s.mu.Lock()
		s.refresh[rt] = user
		s.mu.Unlock()
		resp["refresh_token"] = rt
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// grant intersects the requested scopes with what user may do: the main
// user may pull and push everything, a WithTokenUser user what its grants
// say, anonymous callers pull only when allowed. Scopes granted nothing are
// left out, as real token servers do.
func (s *tokenServer) grant(user string, scopes []string) []*token.ResourceActions {
	allowed := func(string) []string { return nil }
	lu, isLimited := s.limited[user]
	switch {
	case isLimited:
		allowed = func(repo string) []string { return lu.grants[repo] }
	case user != "":
		allowed = func(string) []string { return []string{"pull", "push"} }
	case s.anonPull:
		allowed = func(string) []string { return []string{"pull"} }
	}
	var out []*token.ResourceActions
	for _, sc := range scopes {
		typ, name, actions, ok := parseScope(sc)
		if !ok {
			continue
		}
		var granted []string
		for _, a := range actions {
			switch {
			case typ == "repository" && slices.Contains(allowed(name), a):
				granted = append(granted, a)
			case typ == "registry" && name == "catalog" && a == "*" && user != "" && !isLimited:
				granted = append(granted, a)
			}
		}
		if len(granted) > 0 {
			out = append(out, &token.ResourceActions{Type: typ, Name: name, Actions: granted})
		}
	}
	return out
}

// parseScope splits "repository:samples/hello:pull,push". The name may
// contain colons (a registry host with a port), so the type ends at the
// first colon and the actions start after the last.
func parseScope(s string) (typ, name string, actions []string, ok bool) {
	first := strings.Index(s, ":")
	last := strings.LastIndex(s, ":")
	if first < 0 || last == first {
		return "", "", nil, false
	}
	typ, name = s[:first], s[first+1:last]
	// A resource class, as in "repository(plugin)", is not part of the type.
	if i := strings.Index(typ, "("); i >= 0 {
		typ = typ[:i]
	}
	return typ, name, strings.Split(s[last+1:], ","), true
}

// splitScopes accepts both repeated scope parameters and space-separated
// scopes in one parameter.
func splitScopes(params []string) []string {
	var out []string
	for _, p := range params {
		out = append(out, strings.Fields(p)...)
	}
	return out
}

func writeTokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
