// Package registry is imagec's HTTP client of the OCI distribution API: it
// finds a registry's scheme, fetches manifests and opens blobs (resuming with
// Range), uploads blobs (resuming from the registry's offset) and manifests,
// mounts blobs across repositories and lists tags, retrying transient
// failures and bounding every body it reads.
// Authentication is delegated to registry/auth; verification of content
// against digests is left to the caller.
//
// # Mirrors
//
// A view made by Via reads one registry's content at its mirrors: it sends
// ns=<registry> to every host but the registry's own, and per endpoint an
// API root and extra headers (what containerd's hosts.toml describes).
// Per-host TLS (CA files, client certificates, skip-verify) and plain HTTP
// are HostOptions.
//
// # Retries
//
// There is one retry policy and it lives here: network errors, 429 and 5xx
// are retried, after the registry's Retry-After (up to 60s; more is a
// failure) or else an exponential backoff with full jitter (WithRetry's base,
// doubling, capped at 10s); other statuses and malformed answers are final.
// Each operation has one budget of requests (WithRetry, default 5) that every
// request spends, the first, a retry or a resume alike. An operation is a
// ping, a manifest, or one blob from one place: a Download carries a blob's
// budget across the caller's resumes of a body that broke off midway, so a
// blob that keeps failing is asked for at most 5 times at one endpoint, and
// the final error says how many requests were sent. A caller that moves on
// to a mirror's next endpoint starts a new Download there; NoRetry makes an
// operation try once, for a mirror that should hand over at once. A blob's
// upload (PushBlob) is one operation too, of many requests: it is charged
// only for those that fail, so it gives up at its 5th failure however many
// chunks it sends.
//
// # Timeouts
//
// Every request must see its response headers within the stall timeout
// (WithStallTimeout, 30s), and every body read fails when no byte arrives for
// that long. Bodies read in full (manifests, pings, token responses, error
// bodies, and blobs opened with SmallBody such as image configs) also have an
// overall deadline (WithSmallBodyDeadline, 60s) for the whole exchange, so a
// registry trickling a byte at a time cannot hold a pull: each request fails
// at the deadline and the retry budget bounds how many are made. A blob's
// content has no deadline: a large layer on a slow link may take as long as
// it needs while it keeps moving.
package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry/auth"
)

// maxRedirects bounds redirect chains (registry -> CDN -> storage).
const maxRedirects = 10

var errTooManyRedirects = fmt.Errorf("more than %d redirects: %w", maxRedirects, errdefs.ErrUnavailable)

// Client speaks the distribution API to any number of registries. It is
// safe for concurrent use.
type Client struct {
	opts options
	// api goes through the auth transport; plain is used only by Ping, which
	// takes 200 and 401 alike and so has no use for credentials.
	api   *http.Client
	plain *http.Client

	// schemes is shared by the client and its views (Via).
	schemes *schemeCache
	// route is how a view made by Via speaks to its endpoints; nil for the
	// client New returns.
	route *route
}

// New builds a Client. It fails if a CA file (WithCAFile, WithHostOptions)
// can't be read or parsed.
func New(opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	base, err := baseTransport(o)
	if err != nil {
		return nil, err
	}
	authOpts := []auth.Option{auth.WithUserAgent(o.userAgent), auth.WithTokenTimeout(o.deadline)}
	if o.creds != nil {
		authOpts = append(authOpts, auth.WithCredentials(o.creds))
	}
	return &Client{
		opts:    o,
		api:     &http.Client{Transport: auth.NewTransport(base, authOpts...), CheckRedirect: checkRedirect},
		plain:   &http.Client{Transport: base, CheckRedirect: checkRedirect},
		schemes: &schemeCache{hosts: map[string]*hostEntry{}},
	}, nil
}

// rootPool returns nil (meaning the system roots) unless roots were replaced
// or a CA file adds to them.
func rootPool(o options) (*x509.CertPool, error) {
	if o.caFile == "" {
		return o.rootCAs, nil
	}
	return addCAFile(o.rootCAs, o.caFile)
}

// addCAFile returns a copy of pool (nil meaning the system roots) with the
// PEM certificates of path added.
func addCAFile(pool *x509.CertPool, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	if pool != nil {
		pool = pool.Clone()
	} else if pool, err = x509.SystemCertPool(); err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate: %w", path, errdefs.ErrInvalidArgument)
	}
	return pool, nil
}

func newBaseTransport(roots *x509.CertPool, skipVerify bool, clientCerts []tls.Certificate) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:            roots,
			InsecureSkipVerify: skipVerify, //nolint:gosec // only when the user asks for it
			Certificates:       clientCerts,
			MinVersion:         tls.VersionTLS12,
		},
		// A custom TLS config disables HTTP/2 unless forced back on.
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// checkRedirect follows registry redirects to CDNs and object stores within
// the rules of checkHop.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errTooManyRedirects
	}
	fromHTTPS := false
	for _, prev := range via {
		fromHTTPS = fromHTTPS || prev.URL.Scheme == "https"
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		// http.Client copies every header of the first request but
		// Authorization and cookies; an endpoint's own headers (hosts.toml's
		// header) belong to that endpoint, not to a CDN it sends us to.
		for _, k := range addedHeaders(req.Context()) {
			req.Header.Del(k)
		}
	}
	return checkHop("redirect", via[0].URL.Host, fromHTTPS, req.URL)
}

// checkHop is the rule for leaving a registry for a URL it names, by a
// redirect or by an upload's Location (what says which, for messages):
// never from TLS down to plain HTTP, where a signed URL or the content
// could be read or altered in transit, nor from a public registry (origin)
// to a loopback or private address (server-side request forgery against
// this machine's network).
func checkHop(what, origin string, fromHTTPS bool, to *url.URL) error {
	if reference.IsInternal(to.Host) && !reference.IsInternal(origin) {
		return fmt.Errorf("refusing %s from %s to internal address %s: %w", what, origin, to.Host, errdefs.ErrDenied)
	}
	if fromHTTPS && to.Scheme != "https" {
		return fmt.Errorf("refusing %s from https to http: %w", what, errdefs.ErrUnsupported)
	}
	return nil
}

// send performs one HTTP exchange without a request body; see sendBody.
func (c *Client) send(ctx context.Context, hc *http.Client, method, rawURL string, header http.Header) (*http.Response, error) {
	return c.sendBody(ctx, hc, method, rawURL, header, nil)
}

// sendBody performs one HTTP exchange, sending body when it is not nil.
// Response headers must arrive within the stall timeout (of the last byte
// of the request body sent, when there is one); the returned body enforces
// the same timeout on every read and releases the request when closed. The
// whole exchange, body included, must also end within the small-body
// deadline, unless the caller lifts it for a blob's content
// (watchedBody.streaming) or sends one (payload.large).
func (c *Client) sendBody(ctx context.Context, hc *http.Client, method, rawURL string, header http.Header, body *payload) (*http.Response, error) {
	reqCtx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(reqCtx, method, rawURL, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("building request %s %s: %v: %w", method, redactURL(rawURL), err, errdefs.ErrInvalidArgument)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if added := c.route.addHeaders(req); len(added) > 0 {
		req = req.WithContext(context.WithValue(req.Context(), addedHeadersKey{}, added))
	}
	req.Header.Set("User-Agent", c.opts.userAgent)

	fired, late := new(atomic.Bool), new(atomic.Bool)
	timer := time.AfterFunc(c.opts.stall, func() {
		fired.Store(true)
		cancel()
	})
	deadline := time.AfterFunc(c.opts.deadline, func() {
		late.Store(true)
		cancel()
	})
	guard := &stallGuard{timer: timer, stall: c.opts.stall}
	if body != nil {
		if body.large {
			deadline.Stop()
		}
		if err := body.attach(req, guard); err != nil {
			timer.Stop()
			deadline.Stop()
			cancel()
			return nil, err
		}
	}
	resp, err := hc.Do(req)
	guard.answered()
	timer.Stop()
	if err == nil && (fired.Load() || late.Load()) {
		resp.Body.Close()
		err = context.Canceled
	}
	if err != nil {
		deadline.Stop()
		cancel()
		switch {
		case ctx.Err() != nil:
		case late.Load():
			return nil, fmt.Errorf("%s %s: no complete response within %s: %w", method, redactURL(rawURL), c.opts.deadline, errdefs.ErrUnavailable)
		case fired.Load():
			return nil, fmt.Errorf("%s %s: no response within %s: %w", method, redactURL(rawURL), c.opts.stall, errdefs.ErrUnavailable)
		}
		// On a refused redirect Do also returns the previous response,
		// already closed; only the error matters.
		return nil, redactError(err)
	}
	resp.Body = &watchedBody{
		body: resp.Body, timer: timer, stall: c.opts.stall, fired: fired, cancel: cancel, host: req.URL.Host,
		deadline: deadline, limit: c.opts.deadline, late: late,
	}
	return resp, nil
}

// endpoint is the URL of an API path ("/v2/...") on host, pinging host
// first if its scheme isn't known yet. A view made by Via puts the path
// under the host's API root and adds ns= for a mirror.
func (c *Client) endpoint(ctx context.Context, host, path string) (string, error) {
	scheme, err := c.scheme(ctx, host)
	if err != nil {
		return "", err
	}
	return c.route.apiURL(scheme, host, path), nil
}

// redactURL drops what must never appear in messages: query strings (tokens,
// CDN signatures), fragments and user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment, u.User = "", false, "", "", nil
	return u.String()
}

// redactError rewrites the *url.Error that http.Client returns so that its
// URL, which may be a signed redirect target, loses its query.
func redactError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}

// Close releases idle connections. The client stays usable; Close is for
// programs and tests that want no connection left open when they are done.
func (c *Client) Close() {
	c.api.CloseIdleConnections()
	c.plain.CloseIdleConnections()
}
