package registry

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the certificate as PEM
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name+".pem")
	if err := writeFile(file, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// server starts an HTTPS registry stub on loopback whose certificate, for
// 127.0.0.1, ca issued. It answers /v2/ and one manifest.
func (ca *testCA) server(t *testing.T) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/repo/manifests/v1" {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(manifestBody)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ErrorLog = quietLog // rejected handshakes are part of the test
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

var manifestBody = []byte(`{"schemaVersion":2}`)

func TestHostOptionsTLS(t *testing.T) {
	t.Parallel()
	caA, caB := newTestCA(t, "ca-a"), newTestCA(t, "ca-b")
	trusted := caA.server(t)  // trusted through its host's CA file only
	skipped := caB.server(t)  // verification skipped for its host only
	unlisted := caA.server(t) // same CA as trusted, but no options for its host
	otherCA := newTestCA(t, "ca-c").server(t)

	c := newTestClient(t, WithRetry(1, 0), WithHostOptions(map[string]HostOptions{
		hostOf(trusted): {CAFile: caA.file},
		hostOf(skipped): {InsecureSkipVerify: true},
		// Only plain-HTTP policy: must not change TLS for its host.
		hostOf(otherCA): {InsecureAllowHTTP: true},
	}))
	t.Cleanup(c.Close)
	tests := []struct {
		name string
		srv  *httptest.Server
		ok   bool
	}{
		{"CA file of the host", trusted, true},
		{"skip-verify for the host", skipped, true},
		{"host without options", unlisted, false},
		{"host with only InsecureAllowHTTP", otherCA, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			err := c.Ping(ctx, hostOf(tt.srv))
			if !tt.ok {
				if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "TLS verification failed for "+hostOf(tt.srv)) {
					t.Fatalf("Ping = %v, want a TLS verification failure", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if s, _ := c.scheme(ctx, hostOf(tt.srv)); s != "https" {
				t.Errorf("scheme = %q, want https", s)
			}
			// Authenticated API requests go through the same routing.
			m, err := c.GetManifest(ctx, refOn(t, tt.srv, "repo:v1"), nil)
			if err != nil || !bytes.Equal(m.Body, manifestBody) {
				t.Fatalf("GetManifest = %v, %v", m, err)
			}
		})
	}

	// Without host options the CA-file host is not trusted either: the
	// success above came from the host's own CA file.
	plain := newTestClient(t, WithRetry(1, 0))
	t.Cleanup(plain.Close)
	if err := plain.Ping(context.Background(), hostOf(trusted)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Ping without host options = %v, want TLS verification failure", err)
	}
}

// A non-loopback name is mapped to a loopback plain-HTTP server by the
// dialer, so only the plain-HTTP policy decides the outcome.
func TestHostOptionsPlainHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = quietLog
	t.Cleanup(srv.Close)
	dialer := &net.Dialer{}
	rt := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, hostOf(srv))
	}}
	t.Cleanup(rt.CloseIdleConnections)

	// With WithTransport the TLS settings are ignored, so a CA file that
	// does not exist is no error.
	c := newTestClient(t, WithTransport(rt), WithHostOptions(map[string]HostOptions{
		"Insecure.Example.com:5000": {InsecureAllowHTTP: true, CAFile: "/nonexistent/ca.pem"},
		"tls-only.example.com:5000": {InsecureSkipVerify: true},
	}))
	tests := []struct {
		host string
		ok   bool
	}{
		{"insecure.example.com:5000", true},
		{"INSECURE.example.com:5000", true},
		{"insecure.example.com:5001", false},
		{"other.example.com:5000", false},
		{"tls-only.example.com:5000", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			err := c.Ping(context.Background(), tt.host)
			if !tt.ok {
				if err == nil {
					t.Fatal("Ping succeeded over plain HTTP for a host without InsecureAllowHTTP")
				}
				return
			}
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if s, _ := c.scheme(context.Background(), tt.host); s != "http" {
				t.Errorf("scheme = %q, want http", s)
			}
		})
	}
}

func TestHostOptionsBadCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := writeFile(bad, "no certificate here"); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(dir, "missing.pem"), bad} {
		_, err := New(WithHostOptions(map[string]HostOptions{"registry.example.com": {CAFile: file}}))
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "registry.example.com") {
			t.Errorf("CA file %s: New = %v, want ErrInvalidArgument naming the host", file, err)
		}
	}
}

func TestHostOptionsTransportChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		hosts  map[string]HostOptions
		router bool
	}{
		{"none", nil, false},
		{"plain HTTP only", map[string]HostOptions{"a.example.com": {InsecureAllowHTTP: true}}, false},
		{"skip verify", map[string]HostOptions{"a.example.com": {InsecureSkipVerify: true}}, true},
	}
	for _, tt := range tests {
		c, err := New(WithHostOptions(tt.hosts))
		if err != nil {
			t.Fatalf("%s: New: %v", tt.name, err)
		}
		_, isRouter := c.plain.Transport.(*hostRouter)
		if isRouter != tt.router {
			t.Errorf("%s: base transport %T, want router %v", tt.name, c.plain.Transport, tt.router)
		}
		c.Close() // reaches every transport of a router
	}
}

func TestHostKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"docker.io", "registry-1.docker.io"},
		{"Docker.IO", "registry-1.docker.io"},
		{"index.docker.io", "registry-1.docker.io"},
		{"Registry.Example.com:5000", "registry.example.com:5000"},
		{"[::1]:5000", "[::1]:5000"},
	}
	for _, tt := range tests {
		if got := hostKey(tt.in); got != tt.want {
			t.Errorf("hostKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
