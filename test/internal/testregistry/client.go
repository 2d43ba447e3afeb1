package testregistry

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/imagec/imagec/errdefs"
)

// Client returns an http.Client that trusts the registry's CA and
// authenticates as User (basic credentials, or bearer tokens fetched from
// the token server on a 401 challenge). It is meant for pushing fixtures,
// not as a model client: it retries a challenged request once.
func (r *Registry) Client() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if r.CAPool != nil {
		base.TLSClientConfig = &tls.Config{RootCAs: r.CAPool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = base
	if r.User != "" {
		rt = &authTransport{base: base, user: r.User, pass: r.Pass, basic: r.cfg.basicAuth, tokens: map[string]string{}}
	}
	return &http.Client{Transport: rt, Timeout: 2 * time.Minute}
}

type authTransport struct {
	base       http.RoundTripper
	user, pass string
	basic      bool

	mu     sync.Mutex
	tokens map[string]string // repository name -> last bearer token for it
}

var repoInPath = regexp.MustCompile(`^/v2/(.+?)/(?:blobs|manifests|tags)/`)

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.basic {
		req = req.Clone(req.Context())
		req.SetBasicAuth(t.user, t.pass)
		return t.base.RoundTrip(req)
	}
	repo := ""
	if m := repoInPath.FindStringSubmatch(req.URL.Path); m != nil {
		repo = m[1]
	}
	first := req.Clone(req.Context())
	t.mu.Lock()
	tok := t.tokens[repo]
	t.mu.Unlock()
	if tok != "" {
		first.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := t.base.RoundTrip(first)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	challenge := parseBearer(resp.Header.Get("WWW-Authenticate"))
	if challenge == nil || (req.Body != nil && req.GetBody == nil) {
		return resp, nil // not retryable: hand the 401 to the caller
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	tok, err = t.fetchToken(req, challenge)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.tokens[repo] = tok
	t.mu.Unlock()

	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, fmt.Errorf("rewinding body of %s %s: %w", req.Method, req.URL, err)
		}
	}
	retry.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(retry)
}

func (t *authTransport) fetchToken(orig *http.Request, ch map[string]string) (string, error) {
	u, err := url.Parse(ch["realm"])
	if err != nil {
		return "", fmt.Errorf("token realm %q: %w", ch["realm"], errdefs.ErrInvalidArgument)
	}
	q := u.Query()
	q.Set("service", ch["service"])
	if s := ch["scope"]; s != "" {
		q.Set("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(orig.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(t.user, t.pass)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("fetching token from %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching token from %s: status %d: %w", u.Host, resp.StatusCode, errdefs.ErrUnauthorized)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("decoding token from %s: %w", u.Host, err)
	}
	if body.Token == "" {
		body.Token = body.AccessToken
	}
	return body.Token, nil
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// parseBearer reads the parameters of a Bearer challenge, or returns nil for
// any other scheme. Enough for Distribution's own challenges.
func parseBearer(h string) map[string]string {
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return nil
	}
	params := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(rest, -1) {
		params[strings.ToLower(m[1])] = m[2]
	}
	return params
}
