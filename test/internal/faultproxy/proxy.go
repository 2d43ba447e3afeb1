// Package faultproxy is an HTTP proxy that stands between imagec and a real
// registry and misbehaves on request: it resets connections, truncates,
// corrupts or stalls bodies, answers with errors, ignores or garbles Range,
// redirects, and cuts uploads off midway. Tests use it in place of a bad
// network, and count what the client sent (Requests).
package faultproxy

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Kind is a class of request a fault applies to.
type Kind int

const (
	Any Kind = iota
	Blob
	Manifest
)

// Fault is one misbehaviour, applied to the next Times matching requests
// (0 or less: every one).
type Fault struct {
	Kind  Kind
	Times int
	// Match, if set, further narrows the requests (e.g. one digest).
	Match func(*http.Request) bool
	// Rewrite, if set, changes the request before it goes upstream.
	Rewrite func(*http.Request)
	// Apply answers the request instead of the plain forwarding. up is the
	// upstream response, already fetched; Apply must close its body.
	Apply func(w http.ResponseWriter, r *http.Request, up *http.Response, p *Proxy)
	// Respond, if set, answers the request without forwarding it: the
	// registry never sees it.
	Respond func(w http.ResponseWriter, r *http.Request)
	// Failed, if set, answers a request whose forwarding failed (one that
	// Rewrite cut off) instead of the proxy's 502.
	Failed func(w http.ResponseWriter, r *http.Request, p *Proxy)
}

// Request is one request the proxy received from the client.
type Request struct {
	Method, Path, Query string
}

// Proxy forwards to one upstream registry, applying faults in order.
type Proxy struct {
	Host string // host:port of the proxy, for image references
	URL  string
	// CAPool trusts the proxy's certificate (StartTLS only).
	CAPool *x509.CertPool

	upstream *url.URL
	server   *httptest.Server
	client   *http.Transport

	mu     sync.Mutex
	faults []*Fault

	reqs []Request

	blobBytes atomic.Int64
	blobGets  atomic.Int64
	// stop unblocks stalled responses when the proxy closes.
	stop chan struct{}
}

// Start runs a proxy on loopback in front of upstream (a base URL such as
// "http://127.0.0.1:5000") until the test ends.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	return start(t, upstream, false)
}

// StartTLS is Start with the proxy speaking HTTPS; CAPool trusts it.
func StartTLS(t testing.TB, upstream string) *Proxy {
	t.Helper()
	return start(t, upstream, true)
}

func start(t testing.TB, upstream string, useTLS bool) *Proxy {
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{upstream: u, client: &http.Transport{Proxy: nil, DisableCompression: true}, stop: make(chan struct{})}
	p.server = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		p.server.StartTLS()
		p.CAPool = x509.NewCertPool()
		p.CAPool.AddCert(p.server.Certificate())
	} else {
		p.server.Start()
	}
	p.URL = p.server.URL
	p.Host = strings.TrimPrefix(strings.TrimPrefix(p.server.URL, "http://"), "https://")
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy, releasing stalled responses.
func (p *Proxy) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.server.CloseClientConnections()
	p.server.Close()
	p.client.CloseIdleConnections()
}

// CloseIdleConnections closes the proxy's idle connections to the upstream,
// so that tests counting goroutines see the same pool every time.
func (p *Proxy) CloseIdleConnections() { p.client.CloseIdleConnections() }

// Inject queues faults.
func (p *Proxy) Inject(fs ...*Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, fs...)
}

// Clear drops every queued fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// BlobBytes is how many blob body bytes the proxy has sent to clients.
func (p *Proxy) BlobBytes() int64 { return p.blobBytes.Load() }

// BlobGets counts blob GET requests that reached the proxy.
func (p *Proxy) BlobGets() int64 { return p.blobGets.Load() }

// ResetCounters zeroes BlobBytes and BlobGets and clears Requests.
func (p *Proxy) ResetCounters() {
	p.blobBytes.Store(0)
	p.blobGets.Store(0)
	p.mu.Lock()
	p.reqs = nil
	p.mu.Unlock()
}

// Requests returns every request the proxy received, oldest first: what the
// client sent on the wire, answered by a fault or not.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.reqs...)
}

// Count is how many requests with method had a path ending in suffix.
func (p *Proxy) Count(method, suffix string) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func kindOf(r *http.Request) Kind {
	switch {
	case strings.Contains(r.URL.Path, "/blobs/"):
		return Blob
	case strings.Contains(r.URL.Path, "/manifests/"):
		return Manifest
	}
	return Any
}

// take returns the first queued fault matching r, consuming one use.
func (p *Proxy) take(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := kindOf(r)
	for i, f := range p.faults {
		if f.Kind != Any && f.Kind != k {
			continue
		}
		if f.Match != nil && !f.Match(r) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				p.faults = append(p.faults[:i:i], p.faults[i+1:]...)
			}
		}
		return f
	}
	return nil
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if kindOf(r) == Blob && r.Method == http.MethodGet {
		p.blobGets.Add(1)
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
	p.mu.Unlock()
	f := p.take(r)
	if f != nil && f.Respond != nil {
		f.Respond(w, r)
		return
	}
	if f != nil && f.Rewrite != nil {
		f.Rewrite(r)
	}
	up, err := p.forward(r)
	if err != nil {
		if f != nil && f.Failed != nil {
			f.Failed(w, r, p)
			return
		}
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if f != nil && f.Apply != nil {
		f.Apply(w, r, up, p)
		return
	}
	p.Relay(w, up, up.Body)
}

// forward sends r to the upstream registry without following redirects.
// Like a reverse proxy it says which host the client asked for, so the
// URLs the registry builds (an upload's Location) lead back through it.
func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.Header.Set("X-Forwarded-Host", r.Host)
	out.Header.Set("X-Forwarded-Proto", "http")
	if r.TLS != nil {
		out.Header.Set("X-Forwarded-Proto", "https")
	}
	out.RequestURI = ""
	out.URL.Scheme = p.upstream.Scheme
	out.URL.Host = p.upstream.Host
	out.Host = p.upstream.Host
	return p.client.RoundTrip(out)
}

// Relay copies an upstream response to w with body as its content,
// counting blob bytes.
func (p *Proxy) Relay(w http.ResponseWriter, up *http.Response, body io.Reader) {
	defer up.Body.Close()
	for k, vs := range up.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(up.StatusCode)
	p.copyBody(w, up.Request, body)
}

func (p *Proxy) copyBody(w io.Writer, r *http.Request, body io.Reader) {
	n, _ := io.Copy(w, body)
	if r != nil && kindOf(r) == Blob {
		p.blobBytes.Add(n)
	}
}

// Abort writes the status line and headers of up, then n bytes of its body,
// then drops the connection without finishing the response (a reset when
// reset is true, else a plain close).
func (p *Proxy) Abort(w http.ResponseWriter, up *http.Response, n int64, reset bool) {
	defer up.Body.Close()
	for k, vs := range up.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(up.StatusCode)
	p.copyBody(w, up.Request, io.LimitReader(up.Body, n))
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	drop(w, reset)
}

// drop ends the client's connection without finishing the response: a
// reset (RST) when reset is true, else a plain close.
func drop(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// Stalled reports the proxy's stop channel, closed when it shuts down, for
// faults that hold a response open.
func (p *Proxy) Stalled() <-chan struct{} { return p.stop }
