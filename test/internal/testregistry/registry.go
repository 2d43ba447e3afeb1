// Package testregistry runs real OCI distribution registries (CNCF
// Distribution v3, the code behind the "registry" image) in-process on
// loopback, for imagec's integration tests, benchmarks and the README demo.
// It never mocks the registry: clients talk HTTP(S) to the same handlers a
// production deployment runs, with htpasswd or token authentication and TLS
// when asked. It pushes the deterministic images of internal/fixtures with
// its own small client.
package testregistry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/imagec/imagec/errdefs"
	"golang.org/x/crypto/bcrypt"

	// Registered by import: the auth and storage backends the config names.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Registry is a running registry. Its fields are read-only.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	// URL is "http://HOST" or, with WithTLS, "https://HOST".
	URL string
	// CAFile (PEM) and CAPool hold the test CA that issued the server
	// certificate; both are empty without WithTLS.
	CAFile string
	CAPool *x509.CertPool
	// User and Pass are the accepted credentials with WithBasicAuth or
	// WithTokenAuth.
	User, Pass string
	// TokenURL is the token server's endpoint (the challenge realm) with
	// WithTokenAuth.
	TokenURL string

	cfg       config
	server    *http.Server
	app       *handlers.App
	tokenSrv  *httptest.Server
	tmpDir    string
	log       requestLog
	serveDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New starts a registry configured by opts and returns once it accepts
// connections. ctx bounds only the start-up; the registry runs until Close.
func New(ctx context.Context, opts ...Option) (*Registry, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.basicAuth && cfg.tokenAuth {
		return nil, fmt.Errorf("testregistry: basic and token auth are exclusive: %w", errdefs.ErrInvalidArgument)
	}
	if err := cfg.checkRemoteURL(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	quietLogs()

	tmp, err := os.MkdirTemp("", "testregistry-")
	if err != nil {
		return nil, fmt.Errorf("testregistry: creating temp dir: %w", err)
	}
	r := &Registry{cfg: cfg, tmpDir: tmp, serveDone: make(chan struct{})}
	if err := r.start(ctx); err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// Start is New for tests: it fails t on error and closes the registry when
// the test ends.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r, err := New(t.Context(), opts...)
	if err != nil {
		t.Fatalf("starting test registry: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("closing test registry: %v", err)
		}
	})
	return r
}

func (r *Registry) start(ctx context.Context) error {
	var serverTLS *tls.Config
	if r.cfg.tls {
		ca, err := newCA("testregistry CA")
		if err != nil {
			return err
		}
		if serverTLS, err = ca.serverTLS(); err != nil {
			return err
		}
		r.CAPool = ca.pool()
		r.CAFile = filepath.Join(r.tmpDir, "ca.pem")
		if err := os.WriteFile(r.CAFile, ca.pem, 0o644); err != nil {
			return fmt.Errorf("testregistry: writing CA file: %w", err)
		}
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", r.cfg.addr)
	if err != nil {
		return fmt.Errorf("testregistry: listening on %s: %w", r.cfg.addr, errors.Join(errdefs.ErrUnavailable, err))
	}
	r.Host = ln.Addr().String()
	r.URL = "http://" + r.Host
	if serverTLS != nil {
		ln = tls.NewListener(ln, serverTLS)
		r.URL = "https://" + r.Host
	}

	rc, err := r.registryConfig(serverTLS)
	if err != nil {
		_ = ln.Close()
		return err
	}
	if r.app, err = newApp(ctx, rc); err != nil {
		_ = ln.Close()
		return err
	}

	var h http.Handler = r.app
	if r.cfg.referrersPage > 0 {
		h = newReferrersAPI(h, r.cfg.referrersPage)
	}
	r.server = &http.Server{
		Handler:           r.log.wrap(h, false),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		defer close(r.serveDone)
		_ = r.server.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return nil
}

// registryConfig builds the Distribution configuration: in-memory or
// filesystem storage, no redis, no debug server, no health checks, no
// upload purger, deletes allowed, foreign-layer URLs allowed, and proxy mode
// with WithPullThrough.
func (r *Registry) registryConfig(serverTLS *tls.Config) (*configuration.Configuration, error) {
	c := &configuration.Configuration{}
	c.Log.Level = "error"
	c.HTTP.Addr = r.Host
	c.HTTP.Secret = randomHex(32) // a fixed secret avoids the "generated secret" warning
	c.Storage = configuration.Storage{
		"maintenance": configuration.Parameters{
			"uploadpurging": map[any]any{"enabled": false},
		},
		"delete": configuration.Parameters{"enabled": true},
	}
	if r.cfg.storageDir != "" {
		c.Storage["filesystem"] = configuration.Parameters{"rootdirectory": r.cfg.storageDir}
	} else {
		c.Storage["inmemory"] = configuration.Parameters{}
	}
	if r.cfg.remoteURL != "" {
		noExpiry := time.Duration(0) // zero turns the TTL scheduler off
		c.Proxy = configuration.Proxy{RemoteURL: r.cfg.remoteURL, TTL: &noExpiry}
	}
	// Foreign layers point at arbitrary http(s) URLs; without an allow list
	// Distribution rejects every manifest that has one.
	c.Validation.Manifests.URLs.Allow = []string{"^https?://"}

	switch {
	case r.cfg.basicAuth:
		r.User, r.Pass = r.cfg.user, r.cfg.pass
		path, err := r.writeHtpasswd()
		if err != nil {
			return nil, err
		}
		c.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "testregistry", "path": path}}
	case r.cfg.tokenAuth:
		r.User, r.Pass = r.cfg.user, r.cfg.pass
		bundle, err := r.startTokenServer(serverTLS)
		if err != nil {
			return nil, err
		}
		c.Auth = configuration.Auth{"token": configuration.Parameters{
			"realm":          r.TokenURL,
			"service":        tokenService,
			"issuer":         tokenIssuer,
			"rootcertbundle": bundle,
		}}
	}
	return c, nil
}

func (r *Registry) writeHtpasswd() (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(r.cfg.pass), bcrypt.MinCost)
	if err != nil {
		return "", fmt.Errorf("testregistry: hashing password: %w", err)
	}
	path := filepath.Join(r.tmpDir, "htpasswd")
	if err := os.WriteFile(path, []byte(r.cfg.user+":"+string(hash)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("testregistry: writing htpasswd: %w", err)
	}
	return path, nil
}

// startTokenServer starts the token server (over TLS when the registry uses
// TLS) and returns the path of the root bundle the registry must trust.
func (r *Registry) startTokenServer(serverTLS *tls.Config) (string, error) {
	ca, err := newCA("testregistry token CA")
	if err != nil {
		return "", err
	}
	ts, err := newTokenServer(ca, r.cfg)
	if err != nil {
		return "", err
	}
	r.tokenSrv = httptest.NewUnstartedServer(r.log.wrap(ts, true))
	if serverTLS != nil {
		r.tokenSrv.TLS = serverTLS.Clone()
		r.tokenSrv.StartTLS()
	} else {
		r.tokenSrv.Start()
	}
	r.TokenURL = r.tokenSrv.URL + tokenPath
	bundle := filepath.Join(r.tmpDir, "token-ca.pem")
	if err := os.WriteFile(bundle, ca.pem, 0o644); err != nil {
		return "", fmt.Errorf("testregistry: writing token root bundle: %w", err)
	}
	return bundle, nil
}

// newApp turns NewApp's panics on bad configuration into errors.
func newApp(ctx context.Context, c *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("testregistry: configuring registry: %v", p)
		}
	}()
	// The app keeps its context for background work; it must outlive the
	// start-up context and ends with Shutdown.
	return handlers.NewApp(context.WithoutCancel(ctx), c), nil
}

// Close stops the registry and its token server and removes the temporary
// files. Filesystem storage set by WithStorageDir is kept. Close is safe to
// call more than once.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		var errs []error
		if r.server != nil {
			// Not longer: net/http counts a connection that never sent a
			// request as busy for 5s, and a client may open one spare.
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			if err := r.server.Shutdown(ctx); err != nil {
				errs = append(errs, r.server.Close())
			}
			cancel()
			<-r.serveDone
		}
		if r.app != nil {
			errs = append(errs, r.app.Shutdown())
		}
		if r.tokenSrv != nil {
			r.tokenSrv.Close()
		}
		errs = append(errs, os.RemoveAll(r.tmpDir))
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}
