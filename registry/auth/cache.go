package auth

import (
	"encoding/base64"
	"net/url"
	"strings"
)

// hostState is what the transport learned about one registry host from its
// challenges. Only hosts that challenged have one, and only they ever
// receive an Authorization header from the transport.
type hostState struct {
	scheme    string // "bearer" or "basic": the last challenge answered
	realm     string // bearer: realm of the last challenge
	service   string // bearer: service of the last challenge
	plainHTTP bool   // the host was contacted over http when it challenged
	basic     string // basic: the Authorization value to send
	tokens    map[string]token
}

// canonicalHost is the key a URL's host is known by: lower-cased, without
// the scheme's default port, so "Host:443" and "host" share credentials.
func canonicalHost(u *url.URL) string {
	h := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && strings.HasSuffix(h, ":443"):
		h = strings.TrimSuffix(h, ":443")
	case u.Scheme == "http" && strings.HasSuffix(h, ":80"):
		h = strings.TrimSuffix(h, ":80")
	}
	return h
}

// knownHost reports whether host has challenged this transport.
func (t *Transport) knownHost(host string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hosts[host] != nil
}

// hostSnapshot returns a copy of host's state without its token map.
func (t *Transport) hostSnapshot(host string) (hostState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.hosts[host]
	if st == nil {
		return hostState{}, false
	}
	cp := *st
	cp.tokens = nil
	return cp, true
}

// recordBearer remembers that host answers with a bearer challenge.
func (t *Transport) recordBearer(host string, plainHTTP bool, realm, service string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stateLocked(host)
	st.scheme, st.realm, st.service, st.plainHTTP = "bearer", realm, service, plainHTTP
	st.basic = ""
}

// recordBasic remembers that host takes basic credentials.
func (t *Transport) recordBasic(host string, plainHTTP bool, authorization string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stateLocked(host)
	st.scheme, st.basic, st.plainHTTP = "basic", authorization, plainHTTP
}

func (t *Transport) stateLocked(host string) *hostState {
	st := t.hosts[host]
	if st == nil {
		st = &hostState{tokens: map[string]token{}}
		t.hosts[host] = st
	}
	return st
}

// cachedToken returns a token for (host, scope) that is not due for refresh.
func (t *Transport) cachedToken(host, scope string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.hosts[host]
	if st == nil {
		return "", false
	}
	tok, ok := st.tokens[scope]
	if !ok || !t.now().Before(tok.refreshAt) {
		return "", false
	}
	return tok.value, true
}

// storeToken caches tok for host under each of scopes, pruning entries that
// expired so a long-lived transport does not accumulate them.
func (t *Transport) storeToken(host string, tok token, scopes ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stateLocked(host)
	now := t.now()
	for s, old := range st.tokens {
		if !now.Before(old.refreshAt) {
			delete(st.tokens, s)
		}
	}
	for _, s := range scopes {
		st.tokens[s] = tok
	}
}

// dropToken forgets the cached token for (host, scope) if it is still
// value: a concurrent request may already have replaced it with a good one.
func (t *Transport) dropToken(host, scope, value string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.hosts[host]; st != nil && st.tokens[scope].value == value {
		delete(st.tokens, scope)
	}
}

// forgetBasic drops a basic credential the host rejected, so later requests
// ask the CredentialFunc again instead of resending it up front.
func (t *Transport) forgetBasic(host, authorization string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.hosts[host]; st != nil && st.basic == authorization {
		st.basic = ""
	}
}

func basicAuthorization(c Credential) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))
}
