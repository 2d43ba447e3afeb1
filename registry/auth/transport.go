package auth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// defaultTokenTimeout bounds a shared token fetch, headers and body. The
// fetch runs detached from the context of the request that started it,
// because other requests wait on it too and must not fail when that first
// one is cancelled; so it needs a deadline of its own.
const defaultTokenTimeout = 60 * time.Second

// maxDrain is how much of a 401 body is read so its connection can be reused.
const maxDrain = 64 << 10

// Transport is an http.RoundTripper that answers registry auth challenges.
// It is safe for concurrent use. Build it with NewTransport.
type Transport struct {
	base       http.RoundTripper
	creds      CredentialFunc
	userAgent  string
	realmCheck func(registryHost string, realm *url.URL) error
	tokenLimit time.Duration
	now        func() time.Time // replaced by tests

	group singleflight.Group
	mu    sync.Mutex
	hosts map[string]*hostState
}

// Option configures a Transport.
type Option func(*Transport)

// WithCredentials sets where credentials come from. The default is
// anonymous access: no credentials for any host.
func WithCredentials(f CredentialFunc) Option {
	return func(t *Transport) {
		if f != nil {
			t.creds = f
		}
	}
}

// WithUserAgent sets the User-Agent sent to token realms and to registry
// requests that carry none. The default adds no User-Agent (net/http's own
// applies).
func WithUserAgent(ua string) Option {
	return func(t *Transport) { t.userAgent = ua }
}

// WithTokenTimeout bounds a token fetch as a whole, the token server's
// headers and body together, so a realm trickling its answer cannot hold
// requests waiting for it. Default: 60s.
func WithTokenTimeout(d time.Duration) Option {
	return func(t *Transport) {
		if d > 0 {
			t.tokenLimit = d
		}
	}
}

// WithRealmCheck sets the policy applied to a bearer realm (and to every
// redirect from it) before any request is sent there. The default is
// CheckRealm with plainHTTP true when the registry was contacted over http:
// https only unless the registry is loopback or plain http, and no
// loopback/private/link-local realm for a registry that is not itself one.
func WithRealmCheck(f func(registryHost string, realm *url.URL) error) Option {
	return func(t *Transport) { t.realmCheck = f }
}

// NewTransport returns a Transport sending requests through base
// (http.DefaultTransport when nil), which owns TLS and proxies. Retries of
// transient failures are the caller's business.
func NewTransport(base http.RoundTripper, opts ...Option) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &Transport{base: base, creds: anonymous, tokenLimit: defaultTokenTimeout, now: time.Now, hosts: map[string]*hostState{}}
	for _, o := range opts {
		o(t)
	}
	return t
}

func (t *Transport) checkRealm(registryHost string, plainHTTP bool, realm *url.URL) error {
	if t.realmCheck != nil {
		return t.realmCheck(registryHost, realm)
	}
	return CheckRealm(registryHost, plainHTTP, realm)
}

// RoundTrip sends req, attaching cached credentials for its host and scope,
// and answers a 401 challenge once by obtaining a token (or using basic
// credentials) and resending. A 401 that persists is returned as the
// response. Authorization headers never reach a host that did not
// challenge, which keeps registry credentials away from blob CDNs, nor a
// host an http.Client reached by following a redirect from another one:
// credentials belong to the host the caller addressed, and a registry must
// not be able to hand them to someone else by answering with a redirect.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	host := canonicalHost(req.URL)
	plainHTTP := req.URL.Scheme == "http"
	scope := scopeForRequest(req.Method, req.URL)

	if redirectedAway(req) {
		out := t.prepare(req, req.Body)
		out.Header.Del("Authorization")
		return t.base.RoundTrip(out)
	}
	out := t.prepare(req, req.Body)
	sent, err := t.authorize(ctx, out, host, scope)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	ch, ok := pickChallenge(resp.Header.Values("WWW-Authenticate"))
	if !ok {
		return resp, nil
	}
	authorization, err := t.answer(ctx, host, plainHTTP, scope, ch, sent)
	if err != nil {
		discard(resp)
		return nil, err
	}
	if authorization == "" {
		return resp, nil
	}
	body, replayable := rewindBody(req)
	if !replayable {
		// The caller's retry will find the credential in the cache.
		return resp, nil
	}
	discard(resp)
	retry := t.prepare(req, body)
	retry.Header.Set("Authorization", authorization)
	return t.base.RoundTrip(retry)
}

// redirectedAway reports whether req was created by an http.Client
// following a redirect and is bound for another host than the first request
// of its chain (host:port, as credentials are keyed).
func redirectedAway(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return canonicalHost(first.URL) != canonicalHost(req.URL)
}

// prepare clones req for sending with body, dropping any Authorization the
// caller set if the host never challenged: a redirect to a CDN or object
// store must not carry the registry's credentials.
func (t *Transport) prepare(req *http.Request, body io.ReadCloser) *http.Request {
	out := req.Clone(req.Context())
	out.Body = body
	if !t.knownHost(canonicalHost(req.URL)) {
		out.Header.Del("Authorization")
	}
	if t.userAgent != "" && out.Header.Get("User-Agent") == "" {
		out.Header.Set("User-Agent", t.userAgent)
	}
	return out
}

// authorize attaches what the cache holds for (host, scope). For a host
// known to use bearer tokens it fetches a token for a new scope right away
// rather than waiting for the 401 it would certainly get. It returns the
// Authorization value attached, "" for none.
func (t *Transport) authorize(ctx context.Context, out *http.Request, host, scope string) (string, error) {
	st, ok := t.hostSnapshot(host)
	if !ok {
		return "", nil
	}
	if out.URL.Scheme == "http" && !st.plainHTTP {
		// Learned over https: never sent in cleartext.
		return "", nil
	}
	var authorization string
	switch st.scheme {
	case "basic":
		authorization = st.basic
	case "bearer":
		tok, err := t.token(ctx, bearerRequest{
			registryHost: host, plainHTTP: st.plainHTTP, realm: st.realm, service: st.service, scope: scope,
		}, scope, "")
		if err != nil {
			return "", err
		}
		authorization = "Bearer " + tok
	}
	if authorization != "" {
		out.Header.Set("Authorization", authorization)
	}
	return authorization, nil
}

// answer returns the Authorization value answering ch for a request with
// scope that was sent with the Authorization value sent, or "" when there is
// nothing better to send.
func (t *Transport) answer(ctx context.Context, host string, plainHTTP bool, scope string, ch Challenge, sent string) (string, error) {
	if st, ok := t.hostSnapshot(host); ok && plainHTTP && !st.plainHTTP {
		// The host authenticated over https. Whoever answers for it over
		// http (a downgrade, an attacker on the path) is sent nothing, or
		// the cleartext guard in authorize would be one 401 away.
		return "", nil
	}
	switch ch.Scheme {
	case "bearer":
		realm := ch.Params["realm"]
		if realm == "" {
			return "", nil
		}
		tokenScope := ch.Params["scope"]
		if tokenScope == "" {
			tokenScope = scope
		}
		rejected, _ := strings.CutPrefix(sent, "Bearer ")
		if rejected != "" {
			t.dropToken(host, scope, rejected)
			t.dropToken(host, tokenScope, rejected)
		}
		t.recordBearer(host, plainHTTP, realm, ch.Params["service"])
		tok, err := t.token(ctx, bearerRequest{
			registryHost: host, plainHTTP: plainHTTP, realm: realm, service: ch.Params["service"], scope: tokenScope,
		}, scope, rejected)
		if err != nil {
			return "", err
		}
		return "Bearer " + tok, nil
	case "basic":
		cred, err := t.credential(ctx, host)
		if err != nil {
			return "", err
		}
		if !cred.hasBasic() {
			return "", nil
		}
		authorization := basicAuthorization(cred)
		if authorization == sent {
			// Rejected already; resending would only repeat the 401.
			t.forgetBasic(host, authorization)
			return "", nil
		}
		t.recordBasic(host, plainHTTP, authorization)
		return authorization, nil
	}
	return "", nil
}

// token returns a token for br, from the cache or from one fetch shared by
// all concurrent callers, and caches it under br.scope and reqScope (the
// scope future requests will look up). A token equal to rejected, which the
// registry just refused, is never returned from the cache.
func (t *Transport) token(ctx context.Context, br bearerRequest, reqScope, rejected string) (string, error) {
	if v, ok := t.cachedToken(br.registryHost, br.scope); ok && v != rejected {
		if reqScope != br.scope {
			t.storeToken(br.registryHost, token{value: v, refreshAt: t.tokenRefreshAt(br.registryHost, br.scope)}, reqScope)
		}
		return v, nil
	}
	key := strings.Join([]string{br.registryHost, br.realm, br.service, br.scope}, "\x00")
	for attempt := 0; ; attempt++ {
		resc := t.group.DoChan(key, func() (any, error) {
			if v, ok := t.cachedToken(br.registryHost, br.scope); ok && v != rejected {
				return v, nil
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.tokenLimit)
			defer cancel()
			cred, err := t.credential(fctx, br.registryHost)
			if err != nil {
				return "", err
			}
			tok, err := t.fetchToken(fctx, br, cred)
			if err != nil {
				return "", err
			}
			t.storeToken(br.registryHost, tok, br.scope)
			return tok.value, nil
		})
		var res singleflight.Result
		select {
		case res = <-resc:
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for a token for registry %s: %w", br.registryHost, ctx.Err())
		}
		if res.Err != nil {
			return "", res.Err
		}
		v := res.Val.(string)
		// A fetch that was already in flight may hand back the very token
		// the registry refused; then fetch once more on our own account.
		if v == rejected && attempt == 0 {
			t.dropToken(br.registryHost, br.scope, v)
			continue
		}
		if reqScope != br.scope {
			t.storeToken(br.registryHost, token{value: v, refreshAt: t.tokenRefreshAt(br.registryHost, br.scope)}, reqScope)
		}
		return v, nil
	}
}

// tokenRefreshAt returns the refresh time of the cached (host, scope) token,
// or a minimal lifetime from now if it has vanished meanwhile.
func (t *Transport) tokenRefreshAt(host, scope string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.hosts[host]; st != nil {
		if tok, ok := st.tokens[scope]; ok {
			return tok.refreshAt
		}
	}
	return t.now().Add(minTokenLifetime - minTokenLifetime/10)
}

// credential asks the CredentialFunc for host's credential.
func (t *Transport) credential(ctx context.Context, host string) (Credential, error) {
	c, err := t.creds(ctx, host)
	if err != nil {
		return Credential{}, fmt.Errorf("looking up credentials for registry %s: %w", host, err)
	}
	return c, nil
}

// pickChallenge prefers bearer (scoped, short-lived tokens) over basic.
func pickChallenge(headers []string) (Challenge, bool) {
	var basic *Challenge
	for _, c := range ParseChallenges(headers) {
		switch c.Scheme {
		case "bearer":
			return c, true
		case "basic":
			if basic == nil {
				basic = &c
			}
		}
	}
	if basic != nil {
		return *basic, true
	}
	return Challenge{}, false
}

// rewindBody returns a fresh copy of req's body for a resend, and false when
// the body cannot be replayed.
func rewindBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	return b, true
}

func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		_ = b.Close()
	}
}
