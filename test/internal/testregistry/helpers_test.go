package testregistry

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/internal/fixtures"
)

// creds are what a test client presents; nil means anonymous.
type creds struct{ user, pass string }

// plainClient trusts the registry's CA but adds no credentials, so the test
// itself performs the auth dance a real client would.
func plainClient(r *Registry) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.CAPool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: r.CAPool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// fetch GETs u, answering a Basic or Bearer challenge once with c (a Bearer
// challenge is answered even without credentials, as anonymous). It returns
// the final status, headers and body.
func fetch(t *testing.T, hc *http.Client, u, accept string, c *creds) (int, http.Header, []byte) {
	t.Helper()
	get := func(auth string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		return resp
	}
	resp := get("")
	if resp.StatusCode == http.StatusUnauthorized {
		challenge := resp.Header.Get("WWW-Authenticate")
		resp.Body.Close()
		switch {
		case strings.HasPrefix(challenge, "Basic") && c != nil:
			resp = get("Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass)))
		case strings.HasPrefix(challenge, "Bearer"):
			tok, status := bearerToken(t, hc, parseBearer(challenge), c)
			if status != http.StatusOK {
				return status, nil, nil
			}
			resp = get("Bearer " + tok)
		default:
			return http.StatusUnauthorized, nil, nil
		}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header, body
}

// bearerToken asks the challenge's realm for a token, with basic
// credentials when c is set.
func bearerToken(t *testing.T, hc *http.Client, ch map[string]string, c *creds) (string, int) {
	t.Helper()
	q := url.Values{"service": {ch["service"]}, "scope": {ch["scope"]}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ch["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Token == "" {
		t.Fatalf("decoding token (%v): %q", err, body.Token)
	}
	return body.Token, http.StatusOK
}

const acceptAll = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	fixtures.MediaTypeDockerManifestList + ", " + fixtures.MediaTypeDockerManifest
