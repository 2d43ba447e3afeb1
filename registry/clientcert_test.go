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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

// testPKI issues certificates from one throwaway CA.
type testPKI struct {
	ca  *x509.Certificate
	key *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &testPKI{ca: ca, key: key}
}

// issue returns a leaf for loopback (server) or a client, as PEM.
func (p *testPKI) issue(t *testing.T, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

func writePEM(t *testing.T, dir, name string, data ...[]byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, bytes.Join(data, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A mirror that requires a client certificate gets the host's, whether
// the key is in its own file or beside the certificate; the server's CA
// comes from CAFiles.
func TestHostClientCertificates(t *testing.T) {
	t.Parallel()
	serverPKI, clientPKI := newTestPKI(t), newTestPKI(t)
	srvCert, srvKey := serverPKI.issue(t, false)
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientPKI.pool()}
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := hostOf(srv)

	dir := t.TempDir()
	serverCA := writePEM(t, dir, "server-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverPKI.ca.Raw}))
	cert, key := clientPKI.issue(t, true)
	certFile, keyFile := writePEM(t, dir, "client.cert", cert), writePEM(t, dir, "client.key", key)
	both := writePEM(t, dir, "client.pem", cert, key)

	// Without a client certificate the handshake fails.
	c := newTestClient(t, WithHostOptions(map[string]HostOptions{host: {CAFiles: []string{serverCA}}}))
	if err := c.Ping(context.Background(), host); err == nil {
		t.Fatal("ping without a client certificate succeeded")
	}
	for _, cc := range []ClientCert{{CertFile: certFile, KeyFile: keyFile}, {CertFile: both}} {
		c := newTestClient(t, WithHostOptions(map[string]HostOptions{host: {CAFiles: []string{serverCA}, ClientCerts: []ClientCert{cc}}}))
		if err := c.Ping(context.Background(), host); err != nil {
			t.Fatalf("ping with %+v: %v", cc, err)
		}
	}

	// A pair that does not load fails New, naming the files only.
	_, err = New(WithHostOptions(map[string]HostOptions{host: {ClientCerts: []ClientCert{{CertFile: certFile, KeyFile: certFile}}}}))
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), certFile) || strings.Contains(err.Error(), "BEGIN") {
		t.Fatalf("bad pair: %v", err)
	}
	_, err = New(WithHostOptions(map[string]HostOptions{host: {ClientCerts: []ClientCert{{CertFile: filepath.Join(dir, "missing")}}}}))
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("missing file: %v", err)
	}
}
