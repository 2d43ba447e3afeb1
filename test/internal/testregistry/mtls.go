package testregistry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// MutualTLS is what a loopback server that requires client certificates
// needs, and what its client presents: for tests of mutual TLS (a mirror
// that only serves nodes holding the fleet's certificate).
type MutualTLS struct {
	// Server serves a certificate for 127.0.0.1, ::1 and localhost and
	// requires a client certificate issued by the client CA.
	Server *tls.Config
	// CAFile is the PEM of the CA that issued the server's certificate.
	CAFile string
	// CertFile and KeyFile are a client certificate the server accepts
	// and its key; BothFile holds both, as containerd's single-path
	// client accepts.
	CertFile, KeyFile, BothFile string
}

// NewMutualTLS issues the certificates into dir (file names ca.pem,
// client.cert, client.key and client.pem).
func NewMutualTLS(dir string) (*MutualTLS, error) {
	serverCA, err := newCA("testregistry mTLS server CA")
	if err != nil {
		return nil, err
	}
	clientCA, err := newCA("testregistry mTLS client CA")
	if err != nil {
		return nil, err
	}
	server, err := serverCA.serverTLS()
	if err != nil {
		return nil, err
	}
	server.ClientAuth = tls.RequireAndVerifyClientCert
	server.ClientCAs = clientCA.pool()

	tmpl, err := certTemplate("testregistry client")
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating client key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, clientCA.cert, &key.PublicKey, clientCA.key)
	if err != nil {
		return nil, fmt.Errorf("issuing client certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM := pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	m := &MutualTLS{
		Server: server, CAFile: filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "client.cert"), KeyFile: filepath.Join(dir, "client.key"), BothFile: filepath.Join(dir, "client.pem"),
	}
	for path, data := range map[string][]byte{m.CAFile: serverCA.pem, m.CertFile: certPEM, m.KeyFile: keyPEM, m.BothFile: append(append([]byte{}, certPEM...), keyPEM...)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("testregistry: writing %s: %w", path, err)
		}
	}
	return m, nil
}
