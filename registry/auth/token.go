package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/imagec/imagec/errdefs"
)

const (
	// maxTokenResponse bounds a token endpoint's body; real ones are a few KiB.
	maxTokenResponse = 1 << 20
	// minTokenLifetime is the lifetime the token spec prescribes when
	// expires_in is absent, and the floor applied to shorter claims.
	minTokenLifetime = 60 * time.Second
	// maxRefreshMargin caps how long before expiry a token is replaced, so
	// a request never leaves with a token about to lapse in flight.
	maxRefreshMargin = 30 * time.Second
	// maxRealmRedirects bounds redirects followed from a token realm.
	maxRealmRedirects = 5
	// oauthClientID identifies imagec to OAuth2 token endpoints.
	oauthClientID = "imagec"
)

// bearerRequest is everything needed to ask a realm for one token.
type bearerRequest struct {
	registryHost string // the host that issued the challenge
	plainHTTP    bool   // the registry was contacted over http
	realm        string
	service      string
	scope        string // space-separated scopes; "" for none
}

// token is a bearer token and the time after which it must not be sent.
type token struct {
	value     string
	refreshAt time.Time
}

// tokenResponse is the JSON body of a token endpoint (token spec and its
// OAuth2 variant).
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// fetchToken obtains a token for br with cred: the registry token itself,
// an OAuth2 refresh-token exchange, or a GET with basic auth or none.
func (t *Transport) fetchToken(ctx context.Context, br bearerRequest, cred Credential) (token, error) {
	if cred.RegistryToken != "" {
		// A registry token is valid until the registry says otherwise; a 401
		// drops it from the cache like any other token.
		return token{value: cred.RegistryToken, refreshAt: t.now().Add(24 * time.Hour)}, nil
	}
	realm, err := url.Parse(br.realm)
	if err != nil || !realm.IsAbs() {
		return token{}, fmt.Errorf("token realm for registry %s is not an absolute URL: %w", br.registryHost, errdefs.ErrDenied)
	}
	if err := t.checkRealm(br.registryHost, br.plainHTTP, realm); err != nil {
		return token{}, err
	}
	if cred.IdentityToken != "" {
		tok, status, err := t.requestToken(ctx, br, realm, cred, true)
		// Registries without OAuth2 POST support (GCR once) answer 404/405;
		// docker falls back to the GET flow, and so do we.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return tok, err
		}
	}
	tok, _, err := t.requestToken(ctx, br, realm, cred, false)
	return tok, err
}

// requestToken performs one token request and returns the token, the HTTP
// status (0 when none was received) and an error.
func (t *Transport) requestToken(ctx context.Context, br bearerRequest, realm *url.URL, cred Credential, oauth bool) (token, int, error) {
	req, err := t.newTokenRequest(ctx, br, realm, cred, oauth)
	if err != nil {
		return token{}, 0, err
	}
	client := &http.Client{Transport: t.base, CheckRedirect: t.realmRedirectPolicy(br)}
	resp, err := client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return token{}, 0, fmt.Errorf("fetching token from %s for registry %s: %w", realm.Host, br.registryHost, ctxErr)
		}
		if errors.Is(err, errdefs.ErrDenied) {
			return token{}, 0, redactURLError(err)
		}
		return token{}, 0, fmt.Errorf("fetching token from %s for registry %s: %w: %w", realm.Host, br.registryHost, errdefs.ErrUnavailable, redactURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxTokenResponse))
		who := "anonymous access"
		if oauth || cred.hasBasic() {
			who = "the credentials"
		}
		return token{}, resp.StatusCode, fmt.Errorf("token server %s refused %s for registry %s (HTTP %d): %w",
			realm.Host, who, br.registryHost, resp.StatusCode, errdefs.ErrUnauthorized)
	case resp.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxTokenResponse))
		return token{}, resp.StatusCode, fmt.Errorf("token server %s for registry %s answered HTTP %d: %w",
			realm.Host, br.registryHost, resp.StatusCode, errdefs.ErrUnavailable)
	}
	tok, err := t.decodeToken(resp.Body)
	if err != nil {
		return token{}, resp.StatusCode, fmt.Errorf("token from %s for registry %s: %w", realm.Host, br.registryHost, err)
	}
	return tok, resp.StatusCode, nil
}

func (t *Transport) newTokenRequest(ctx context.Context, br bearerRequest, realm *url.URL, cred Credential, oauth bool) (*http.Request, error) {
	scopes := strings.Fields(br.scope)
	var req *http.Request
	var err error
	if oauth {
		form := url.Values{}
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", cred.IdentityToken)
		form.Set("client_id", oauthClientID)
		if br.service != "" {
			form.Set("service", br.service)
		}
		for _, s := range scopes {
			form.Add("scope", s)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		u := *realm
		q := u.Query()
		if br.service != "" {
			q.Set("service", br.service)
		}
		for _, s := range scopes {
			q.Add("scope", s)
		}
		if cred.Username != "" {
			q.Set("account", cred.Username)
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err == nil && cred.hasBasic() {
			req.SetBasicAuth(cred.Username, cred.Password)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("building token request to %s for registry %s: %w", realm.Host, br.registryHost, errdefs.ErrInvalidArgument)
	}
	req.Header.Set("Accept", "application/json")
	if t.userAgent != "" {
		req.Header.Set("User-Agent", t.userAgent)
	}
	return req, nil
}

// realmRedirectPolicy applies the realm policy to every hop and never lets
// credentials follow a redirect to another host (net/http keeps them for a
// different port of the same host name).
func (t *Transport) realmRedirectPolicy(br bearerRequest) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRealmRedirects {
			return fmt.Errorf("token realm for registry %s: more than %d redirects: %w", br.registryHost, maxRealmRedirects, errdefs.ErrUnavailable)
		}
		if err := t.checkRealm(br.registryHost, br.plainHTTP, req.URL); err != nil {
			return err
		}
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			// A 307/308 replays a POST body, which carries the refresh
			// token: it must never reach another host.
			if req.Method != http.MethodGet && req.Method != http.MethodHead {
				return fmt.Errorf("token realm for registry %s redirected a %s to another host %s: %w", br.registryHost, req.Method, req.URL.Host, errdefs.ErrDenied)
			}
			req.Header.Del("Authorization")
		}
		return nil
	}
}

// decodeToken reads a bounded token response and computes when to refresh.
func (t *Transport) decodeToken(body io.Reader) (token, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxTokenResponse+1))
	if err != nil {
		return token{}, fmt.Errorf("reading response: %w: %w", errdefs.ErrUnavailable, err)
	}
	if len(data) > maxTokenResponse {
		return token{}, fmt.Errorf("response exceeds %d bytes: %w", maxTokenResponse, errdefs.ErrTooLarge)
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		// The JSON error may quote the body, which holds the token: omit it.
		return token{}, fmt.Errorf("response is not token JSON: %w", errdefs.ErrUnavailable)
	}
	value := tr.Token
	if value == "" {
		value = tr.AccessToken
	}
	if value == "" {
		return token{}, fmt.Errorf("response holds no token: %w", errdefs.ErrUnavailable)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return token{}, fmt.Errorf("response holds a token with control characters: %w", errdefs.ErrUnavailable)
	}
	return token{value: value, refreshAt: refreshTime(t.now(), tr.ExpiresIn, tr.IssuedAt)}, nil
}

// refreshTime returns when a token received at now should be replaced.
// issued_at is honoured only when it is plausible: a server clock ahead of
// ours, or far enough behind that the token would already be stale, would
// otherwise make imagec fetch a token for every request.
func refreshTime(now time.Time, expiresIn int64, issuedAt string) time.Time {
	lifetime := minTokenLifetime
	// Cap absurd values so the multiplication cannot overflow.
	if expiresIn > int64(minTokenLifetime/time.Second) && expiresIn < 365*24*3600 {
		lifetime = time.Duration(expiresIn) * time.Second
	}
	start := now
	if issued, err := time.Parse(time.RFC3339, issuedAt); err == nil &&
		!issued.After(now) && issued.Add(lifetime).After(now.Add(lifetime/2)) {
		start = issued
	}
	margin := min(lifetime/10, maxRefreshMargin)
	return start.Add(lifetime - margin)
}

// redactURLError drops the URL from a *url.Error: the URL of a token
// request carries the account name and, for some realms, query secrets.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
