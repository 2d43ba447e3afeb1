package registry

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// schemeCache holds the scheme of every host pinged, shared by a client and
// the views Via makes of it.
type schemeCache struct {
	mu    sync.Mutex
	hosts map[string]*hostEntry
}

// hostEntry caches the scheme a host answered on. lock serialises pings of
// one host so concurrent first requests share one ping.
type hostEntry struct {
	lock   chan struct{}
	scheme string // "" until a ping succeeded
}

// Ping checks /v2/ on host and decides the scheme: https first; when https
// fails at the connection or TLS level and plain HTTP is allowed for host
// (loopback, WithInsecureAllowHTTP, or the host's HostOptions), http is
// tried. A 200 or 401 is
// success. host is a registry host as in reference.Host; "docker.io" is
// mapped to the host serving Docker Hub. The scheme is cached, so later calls for host don't ping again.
// TLS verification failures are not retried and wrap
// errdefs.ErrInvalidArgument; they name the flags that address them.
func (c *Client) Ping(ctx context.Context, host string) error {
	_, err := c.scheme(ctx, reference.RegistryHost(host))
	return err
}

// scheme returns the cached scheme of host, pinging it on first use.
func (c *Client) scheme(ctx context.Context, host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("empty registry host: %w", errdefs.ErrInvalidArgument)
	}
	c.schemes.mu.Lock()
	e, ok := c.schemes.hosts[host]
	if !ok {
		e = &hostEntry{lock: make(chan struct{}, 1)}
		c.schemes.hosts[host] = e
	}
	scheme := e.scheme
	c.schemes.mu.Unlock()
	if scheme != "" {
		return scheme, nil
	}

	select {
	case e.lock <- struct{}{}:
		defer func() { <-e.lock }()
	case <-ctx.Done():
		return "", fmt.Errorf("pinging registry %s: %w", host, context.Cause(ctx))
	}
	c.schemes.mu.Lock()
	scheme = e.scheme
	c.schemes.mu.Unlock()
	if scheme != "" { // another caller pinged while we waited
		return scheme, nil
	}

	scheme, err := c.ping(ctx, host)
	if err != nil {
		return "", err
	}
	c.schemes.mu.Lock()
	e.scheme = scheme
	c.schemes.mu.Unlock()
	return scheme, nil
}

func (c *Client) ping(ctx context.Context, host string) (string, error) {
	allowHTTP := allowPlainHTTP(host, c.opts.allowHTTP || c.opts.hostOptions(host).InsecureAllowHTTP)
	var scheme string
	ok := func(status int) bool { return status == http.StatusOK || status == http.StatusUnauthorized }
	b := c.newBudget()
	resp, err := c.retry(ctx, host, &b, ok, func(ctx context.Context) (*http.Response, error) {
		scheme = "https"
		resp, err := c.send(ctx, c.plain, http.MethodGet, c.route.apiURL("https", host, "/v2/"), nil)
		if err == nil || !allowHTTP || ctx.Err() != nil {
			return resp, err
		}
		plainResp, plainErr := c.send(ctx, c.plain, http.MethodGet, c.route.apiURL("http", host, "/v2/"), nil)
		if plainErr != nil {
			return nil, err // the https failure says more
		}
		if tlsVerifyError(err) != nil && !ok(plainResp.StatusCode) {
			// The host speaks TLS (its certificate is the problem); an
			// http error page from it says nothing.
			discard(plainResp.Body)
			return nil, err
		}
		scheme = "http"
		return plainResp, nil
	})
	if err != nil {
		return "", err // names host and the /v2/ URL already
	}
	discard(resp.Body)
	return scheme, nil
}

// allowPlainHTTP decides whether host may be spoken to without TLS: only
// loopback registries, unless the user allowed insecure registries.
func allowPlainHTTP(host string, insecureAllowHTTP bool) bool {
	return insecureAllowHTTP || reference.IsLoopback(host)
}
