package manifest_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/docker/libtrust"
	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/manifest"
)

// libtrustKeys generate a key for each JWS algorithm schema 1 signatures
// are made with.
var libtrustKeys = map[string]func() (libtrust.PrivateKey, error){
	"ES256": libtrust.GenerateECP256PrivateKey,
	"ES384": libtrust.GenerateECP384PrivateKey,
	"ES512": libtrust.GenerateECP521PrivateKey,
	"RS256": libtrust.GenerateRSA2048PrivateKey,
}

func newLibtrustKey(t *testing.T, alg string) libtrust.PrivateKey {
	t.Helper()
	k, err := libtrustKeys[alg]()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// schema1Doc is an unsigned schema 1 manifest of two layers, indented as
// docker/distribution marshals one before signing it.
func schema1Doc(t *testing.T) []byte {
	t.Helper()
	s := manifest.Schema1{SchemaVersion: 1, Name: "library/busybox", Tag: "latest", Architecture: "amd64"}
	for _, id := range []string{"top", "base"} {
		s.FSLayers = append(s.FSLayers, manifest.Schema1FSLayer{BlobSum: digest.FromString("blob-" + id)})
		s.History = append(s.History, manifest.Schema1History{V1Compatibility: `{"id":"` + digest.FromString(id).Encoded() + `"}`})
	}
	b, err := json.MarshalIndent(s, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// libtrustSign signs payload with keys as docker/distribution's
// schema1.Sign does, with libtrust itself.
func libtrustSign(t *testing.T, payload []byte, keys ...libtrust.PrivateKey) []byte {
	t.Helper()
	js, err := libtrust.NewJSONSignature(payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := js.Sign(k); err != nil {
			t.Fatal(err)
		}
	}
	body, err := js.PrettySignature("signatures")
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// signer is k as the standard library's crypto.Signer, for schema1sign.
func signer(k libtrust.PrivateKey) crypto.Signer {
	return k.CryptoPrivateKey().(crypto.Signer)
}

// selfSigned is a certificate for k, signed by k.
func selfSigned(t *testing.T, k libtrust.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer(k).Public(), signer(k))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
