package registry

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// HostOptions are TLS and plain-HTTP settings for one registry host.
type HostOptions struct {
	// InsecureAllowHTTP lets Ping fall back to plain HTTP for this host, as
	// WithInsecureAllowHTTP does for every host.
	InsecureAllowHTTP bool
	// CAFile adds the PEM certificates in the file to the roots trusted for
	// this host only (on top of the system roots, WithRootCAs and
	// WithCAFile). New fails if it can't be read or holds no certificate.
	CAFile string
	// CAFiles are more PEM files, each added as CAFile is.
	CAFiles []string
	// ClientCerts are certificates presented to this host when it asks for
	// one (mutual TLS); the TLS handshake picks the first the server's
	// accepted authorities allow. New fails if one can't be loaded.
	ClientCerts []ClientCert
	// InsecureSkipVerify turns off TLS verification for this host only.
	InsecureSkipVerify bool
}

// ClientCert names the PEM files of a TLS client certificate and its key.
type ClientCert struct {
	// CertFile holds the certificate (and its chain).
	CertFile string
	// KeyFile holds the private key; "" when CertFile holds it too.
	KeyFile string
}

// load reads the pair; errors name the files, never their contents.
func (cc ClientCert) load() (tls.Certificate, error) {
	certPEM, err := os.ReadFile(cc.CertFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading client certificate: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	keyPEM := certPEM
	if cc.KeyFile != "" {
		if keyPEM, err = os.ReadFile(cc.KeyFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("reading client key: %w: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		key := cc.KeyFile
		if key == "" {
			key = cc.CertFile
		}
		return tls.Certificate{}, fmt.Errorf("client certificate %s with key %s: %v: %w", cc.CertFile, key, err, errdefs.ErrInvalidArgument)
	}
	return cert, nil
}

// tlsSettings reports whether ho needs a transport of its own.
func (ho HostOptions) tlsSettings() bool {
	return ho.CAFile != "" || len(ho.CAFiles) > 0 || len(ho.ClientCerts) > 0 || ho.InsecureSkipVerify
}

// WithHostOptions sets options for specific hosts (host:port as dialed), on
// top of the client-wide ones: a host's CA file adds to the client's roots
// and its InsecureSkipVerify or InsecureAllowHTTP can only loosen the
// client's settings. Hosts are matched case-insensitively and exactly
// ("example.com" does not match "example.com:443"); "docker.io" means the
// host serving Docker Hub. The TLS settings apply to connections to that
// host only, so a redirect to a CDN, or a token realm on another host, is
// verified with the client-wide roots. With WithTransport the TLS settings
// are ignored and InsecureAllowHTTP still applies. Calls add to each other,
// a later one replacing a host given earlier. Default: none.
func WithHostOptions(hosts map[string]HostOptions) Option {
	return func(o *options) {
		if o.hosts == nil {
			o.hosts = make(map[string]HostOptions, len(hosts))
		}
		for h, ho := range hosts {
			o.hosts[hostKey(h)] = ho
		}
	}
}

// hostKey is how hosts are matched: lowercase (DNS names are
// case-insensitive) and with Docker Hub's domain mapped to its API host.
func hostKey(host string) string {
	return reference.RegistryHost(strings.ToLower(host))
}

// hostOptions returns the options given for host, the zero value if none.
func (o *options) hostOptions(host string) HostOptions {
	return o.hosts[hostKey(host)]
}

// baseTransport builds what sits below authentication: the caller's
// transport if given, else the default transport, routed per host when some
// host has TLS settings of its own.
func baseTransport(o options) (http.RoundTripper, error) {
	if o.transport != nil {
		return o.transport, nil
	}
	roots, err := rootPool(o)
	if err != nil {
		return nil, err
	}
	def := newBaseTransport(roots, o.skipVerify, nil)
	perHost := map[string]*http.Transport{}
	for host, ho := range o.hosts {
		if !ho.tlsSettings() {
			continue // plain-HTTP policy only: the default transport fits
		}
		hostRoots := roots
		for _, f := range append([]string{ho.CAFile}, ho.CAFiles...) {
			if f == "" {
				continue
			}
			if hostRoots, err = addCAFile(hostRoots, f); err != nil {
				return nil, fmt.Errorf("registry host %s: %w", host, err)
			}
		}
		var certs []tls.Certificate
		for _, cc := range ho.ClientCerts {
			cert, err := cc.load()
			if err != nil {
				return nil, fmt.Errorf("registry host %s: %w", host, err)
			}
			certs = append(certs, cert)
		}
		perHost[host] = newBaseTransport(hostRoots, o.skipVerify || ho.InsecureSkipVerify, certs)
	}
	if len(perHost) == 0 {
		return def, nil
	}
	return &hostRouter{def: def, hosts: perHost}, nil
}

// hostRouter sends each request through the transport built for its host.
// A transport has one TLS configuration; a transport per host gives each its
// roots and verification without custom TLS dialing, which would lose the
// transport's proxy and HTTP/2 handling.
type hostRouter struct {
	def   *http.Transport
	hosts map[string]*http.Transport
}

func (r *hostRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if t, ok := r.hosts[hostKey(req.URL.Host)]; ok {
		return t.RoundTrip(req)
	}
	return r.def.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections (Client.Close)
// reach every transport.
func (r *hostRouter) CloseIdleConnections() {
	r.def.CloseIdleConnections()
	for _, t := range r.hosts {
		t.CloseIdleConnections()
	}
}
