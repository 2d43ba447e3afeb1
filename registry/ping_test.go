package registry

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

func TestAllowPlainHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host     string
		insecure bool
		want     bool
	}{
		{"localhost:5000", false, true},
		{"127.0.0.1:5000", false, true},
		{"[::1]:5000", false, true},
		{"registry.example.com", false, false},
		{"registry.example.com:5000", false, false},
		{"10.0.0.1:5000", false, false},
		{"registry-1.docker.io", false, false},
		{"registry.example.com", true, true},
	}
	for _, tt := range tests {
		if got := allowPlainHTTP(tt.host, tt.insecure); got != tt.want {
			t.Errorf("allowPlainHTTP(%q, %v) = %v, want %v", tt.host, tt.insecure, got, tt.want)
		}
	}
}

func TestPingSchemeSelection(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://auth.example/token"`)
		w.WriteHeader(http.StatusUnauthorized) // 401 counts as a live registry
	}))
	t.Cleanup(tlsSrv.Close) // subtests run after this function returns
	plainSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(plainSrv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())

	tests := []struct {
		name string
		srv  *httptest.Server
		want string
	}{
		{"https registry", tlsSrv, "https"},
		{"plain http on loopback", plainSrv, "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, WithRootCAs(pool))
			if err := c.Ping(context.Background(), hostOf(tt.srv)); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			got, err := c.scheme(context.Background(), hostOf(tt.srv))
			if err != nil || got != tt.want {
				t.Fatalf("scheme = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPingCachesScheme(t *testing.T) {
	t.Parallel()
	var pings counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pings.hit()
		}
	}))
	defer srv.Close()
	c := newTestClient(t)
	for range 3 {
		if err := c.Ping(context.Background(), hostOf(srv)); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}
	if _, err := c.GetManifest(context.Background(), refOn(t, srv, "repo:tag"), nil); err != nil {
		t.Fatalf("GetManifest: %v", err)
	}
	if got := pings.get(); got != 1 {
		t.Errorf("/v2/ requested %d times, want 1", got)
	}
}

// A non-loopback name is routed to a loopback plain-HTTP server by the dialer,
// so the only thing deciding the outcome is the plain-HTTP policy.
func TestPingPlainHTTPNonLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = quietLog
	t.Cleanup(srv.Close) // subtests run after this function returns
	dialer := &net.Dialer{}
	rt := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, hostOf(srv))
	}}
	t.Cleanup(rt.CloseIdleConnections)

	tests := []struct {
		name     string
		insecure bool
		wantErr  bool
	}{
		{"refused without flag", false, true},
		{"allowed with flag", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, WithTransport(rt), WithInsecureAllowHTTP(tt.insecure))
			err := c.Ping(context.Background(), "registry.example.com:5000")
			if tt.wantErr {
				if err == nil {
					t.Fatal("Ping succeeded over plain HTTP for a non-loopback host")
				}
				if !strings.Contains(err.Error(), "registry.example.com:5000") {
					t.Errorf("error does not name the host: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if s, _ := c.scheme(context.Background(), "registry.example.com:5000"); s != "http" {
				t.Errorf("scheme = %q, want http", s)
			}
		})
	}
}

func TestPingTLSVerificationFailure(t *testing.T) {
	t.Parallel()
	var conns counter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.hit()
		}
	}
	srv.Config.ErrorLog = quietLog // handshake failures are the point
	srv.StartTLS()
	defer srv.Close()

	c := newTestClient(t) // system roots: the test certificate is unknown
	err := c.Ping(context.Background(), hostOf(srv))
	if err == nil {
		t.Fatal("Ping trusted an unknown certificate")
	}
	msg := err.Error()
	for _, want := range []string{"TLS verification failed for " + hostOf(srv), "x509:", "--ca-file", "--insecure-skip-verify"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if errdefs.IsRetryable(err) {
		t.Errorf("TLS verification failure is retryable: %v", err)
	}
	// One https attempt plus the loopback plain-HTTP probe, no retries.
	if got := conns.get(); got != 2 {
		t.Errorf("server saw %d connections, want 2", got)
	}

	ok := newTestClient(t, WithInsecureSkipVerify(true))
	if err := ok.Ping(context.Background(), hostOf(srv)); err != nil {
		t.Errorf("Ping with InsecureSkipVerify: %v", err)
	}
}

func TestPingUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // nothing listens there now

	c := newTestClient(t, WithRetry(2, time.Millisecond))
	err = c.Ping(context.Background(), host)
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "registry "+host+" unreachable") {
		t.Errorf("error %q does not say the host is unreachable", err)
	}
}

func TestNewCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := New(WithCAFile(dir + "/missing.pem")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("missing CA file: err = %v, want ErrInvalidArgument", err)
	}
	bad := dir + "/bad.pem"
	if err := writeFile(bad, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(WithCAFile(bad)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("CA file without PEM: err = %v, want ErrInvalidArgument", err)
	}

	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	good := dir + "/ca.pem"
	if err := writeFile(good, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, WithCAFile(good))
	if err := c.Ping(context.Background(), hostOf(srv)); err != nil {
		t.Fatalf("Ping with CA file: %v", err)
	}
	if s, _ := c.scheme(context.Background(), hostOf(srv)); s != "https" {
		t.Errorf("scheme = %q, want https", s)
	}
}
