package registry

import (
	"crypto/x509"
	"net/http"
	"time"

	"github.com/imagec/imagec/registry/auth"
	"github.com/imagec/imagec/version"
)

const (
	defaultAttempts     = 5 // requests per operation, resumes of a blob included
	defaultBaseDelay    = 200 * time.Millisecond
	maxBackoff          = 10 * time.Second
	defaultStallTimeout = 30 * time.Second
	// defaultDeadline bounds a small body's whole exchange: 4 MiB, the
	// largest manifest, in 60s is 70 kB/s, slower than any real link.
	defaultDeadline = 60 * time.Second
)

// Option configures a Client built by New.
type Option func(*options)

type options struct {
	creds      auth.CredentialFunc
	caFile     string
	rootCAs    *x509.CertPool
	skipVerify bool
	allowHTTP  bool
	userAgent  string
	attempts   int
	baseDelay  time.Duration
	stall      time.Duration
	deadline   time.Duration
	transport  http.RoundTripper
	hosts      map[string]HostOptions // keyed by hostKey
}

func defaultOptions() options {
	return options{
		userAgent: version.UserAgent(),
		attempts:  defaultAttempts,
		baseDelay: defaultBaseDelay,
		stall:     defaultStallTimeout,
		deadline:  defaultDeadline,
	}
}

// WithCredentials supplies credentials per registry host, asked for only when
// a registry challenges. Default: anonymous.
func WithCredentials(f auth.CredentialFunc) Option {
	return func(o *options) { o.creds = f }
}

// WithCAFile adds the PEM certificates in path to the system roots, for
// registries signed by a private CA. Default: system roots only. New fails if
// the file can't be read or holds no certificate.
func WithCAFile(path string) Option {
	return func(o *options) { o.caFile = path }
}

// WithRootCAs replaces the trusted roots (a CA file, if any, is added to
// pool). Meant for tests. Default: the system roots.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(o *options) { o.rootCAs = pool }
}

// WithInsecureSkipVerify disables TLS certificate verification. Default:
// false.
func WithInsecureSkipVerify(skip bool) Option {
	return func(o *options) { o.skipVerify = skip }
}

// WithInsecureAllowHTTP lets Ping fall back to plain HTTP for any host when
// HTTPS fails to connect. Default: false, so plain HTTP is used only for
// loopback hosts, as docker allows.
func WithInsecureAllowHTTP(allow bool) Option {
	return func(o *options) { o.allowHTTP = allow }
}

// WithUserAgent sets the User-Agent of every request, token requests
// included. Default: version.UserAgent().
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// WithRetry sets the budget of requests of one operation (at least one): a
// ping, a manifest, or one blob at one endpoint including the caller's
// resumes through a Download; and the base of the exponential backoff
// between them (full jitter, capped at 10s). Default: 5 requests, 200ms base.
func WithRetry(attempts int, base time.Duration) Option {
	return func(o *options) {
		o.attempts = max(attempts, 1)
		o.baseDelay = max(base, 0)
	}
}

// WithStallTimeout bounds how long a request may wait for response headers,
// and how long a body read may make no progress, before it fails as
// retryable (errdefs.ErrUnavailable). Default: 30s.
func WithStallTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.stall = d
		}
	}
}

// WithSmallBodyDeadline bounds the whole of every exchange whose body is
// small and read in full, headers and body together: manifests, pings,
// logins, token fetches, error bodies, and blobs opened through a Download
// with SmallBody (image configs). A request that overruns it fails as
// retryable (errdefs.ErrUnavailable), so a registry trickling a byte at a
// time cannot hold a pull for longer than the retry budget's requests times
// d. A blob's content is exempt: it may take as long as it keeps moving
// (WithStallTimeout). Default: 60s.
func WithSmallBodyDeadline(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.deadline = d
		}
	}
}

// WithTransport sets the base transport below authentication, for tests and
// fault-injecting proxies; the TLS options (client-wide and per host) then
// don't apply. Default: a tuned
// *http.Transport honouring the proxy environment variables, with HTTP/2,
// keep-alives and 16 idle connections per host.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.transport = rt }
}
