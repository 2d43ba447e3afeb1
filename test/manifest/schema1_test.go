package manifest_test

import (
	"bytes"
	"crypto/x509"
	"testing"

	"github.com/docker/libtrust"
	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/internal/schema1sign"
	"github.com/imagec/imagec/manifest"
)

// What libtrust signs (each algorithm, two signatures, an x5c chain)
// verifies to the payload libtrust recovers, and its digest is
// docker/distribution's: that payload's SHA-256. manifest's own tests sign
// with schema1sign; this is the check against libtrust's actual output.
func TestVerifySchema1LibtrustSigned(t *testing.T) {
	t.Parallel()
	payload := schema1Doc(t)
	bodies := map[string][]byte{
		"two signatures": libtrustSign(t, payload, newLibtrustKey(t, "ES256"), newLibtrustKey(t, "RS256")),
	}
	for alg := range libtrustKeys {
		bodies[alg] = libtrustSign(t, payload, newLibtrustKey(t, alg))
	}
	js, err := libtrust.NewJSONSignature(payload)
	if err != nil {
		t.Fatal(err)
	}
	k := newLibtrustKey(t, "ES256")
	if err := js.SignWithChain(k, []*x509.Certificate{selfSigned(t, k)}); err != nil {
		t.Fatal(err)
	}
	if bodies["x5c"], err = js.PrettySignature("signatures"); err != nil {
		t.Fatal(err)
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			parsed, err := libtrust.ParsePrettySignature(body, "signatures")
			if err != nil {
				t.Fatal(err)
			}
			canonical, err := parsed.Payload()
			if err != nil || !bytes.Equal(canonical, payload) {
				t.Fatalf("libtrust's payload %q, %v", canonical, err)
			}
			got, err := manifest.VerifySchema1(body)
			if err != nil || !bytes.Equal(got, canonical) {
				t.Fatalf("VerifySchema1 = %q, %v", got, err)
			}
			d, err := manifest.Digest(manifest.MediaTypeDockerSchema1Signed, body)
			if err != nil || d != digest.FromBytes(canonical) {
				t.Errorf("Digest = %s, %v; docker/distribution's = %s", d, err, digest.FromBytes(canonical))
			}
		})
	}
}

// TestVerifySchema1RejectsWhatLibtrustRejects guards the fixtures of
// manifest's tests (signed by schema1sign): a tampered payload is rejected
// by libtrust as well.
func TestVerifySchema1RejectsWhatLibtrustRejects(t *testing.T) {
	t.Parallel()
	body, err := schema1sign.Sign(schema1Doc(t), signer(newLibtrustKey(t, "ES256")))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(body, []byte(`"tag": "latest"`)) != 1 {
		t.Fatalf("fixture without one tag:\n%s", body)
	}
	tampered := bytes.Replace(body, []byte(`"tag": "latest"`), []byte(`"tag": "lateSt"`), 1)
	js, err := libtrust.ParsePrettySignature(tampered, "signatures")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Verify(); err == nil {
		t.Fatal("libtrust accepted a tampered payload; the fixture is wrong")
	}
	if _, err := manifest.VerifySchema1(tampered); err == nil {
		t.Fatal("VerifySchema1 accepted a tampered payload")
	}
}
