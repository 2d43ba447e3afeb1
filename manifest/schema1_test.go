package manifest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/schema1sign"
)

func TestVerifySchema1Keys(t *testing.T) {
	t.Parallel()
	payload := schema1Doc(t, threeEntries()...)
	for _, name := range []string{"ES256", "ES384", "ES512", "RS256"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := sign(t, payload, newKey(t, name))
			if !strings.Contains(string(body), `"alg": "`+name+`"`) {
				t.Fatalf("fixture not signed with %s:\n%s", name, body)
			}
			checkSigned(t, body, payload)
		})
	}
}

// checkSigned asserts that body verifies to payload, that the digest is the
// one docker/distribution computes, and that Parse reads the payload.
func checkSigned(t *testing.T, body, payload []byte) {
	t.Helper()
	got, err := VerifySchema1(body)
	if err != nil {
		t.Fatalf("VerifySchema1: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("payload = %s\nwant %s", got, payload)
	}
	// docker/distribution's digest is that of libtrust's canonical payload,
	// the signed document (test/internal/schema1sign checks with libtrust
	// that it is).
	d, err := Digest(MediaTypeDockerSchema1Signed, body)
	if err != nil {
		t.Fatal(err)
	}
	if d != dgBytes(payload) {
		t.Errorf("Digest = %s, docker/distribution's = %s", d, dgBytes(payload))
	}
	if d == dgBytes(body) {
		t.Errorf("Digest hashed the signatures too")
	}
	p, err := Parse(MediaTypeDockerSchema1Signed, body)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.MediaType != MediaTypeDockerSchema1Signed || p.Schema1.Name != "library/busybox" || len(p.Schema1.FSLayers) != 3 {
		t.Errorf("Parse = %+v", p)
	}
	// Registries that do not label schema 1 still get it recognized.
	if p, err := Parse("application/json", body); err != nil || p.MediaType != MediaTypeDockerSchema1Signed {
		t.Errorf("Parse(application/json) = %+v, %v", p, err)
	}
}

func TestVerifySchema1MultipleSignatures(t *testing.T) {
	t.Parallel()
	payload := schema1Doc(t, threeEntries()...)
	body := sign(t, payload, ecKey(t), newKey(t, "RS256"))
	if n := strings.Count(string(body), `"protected"`); n != 2 {
		t.Fatalf("%d signatures in fixture", n)
	}
	checkSigned(t, body, payload)
}

func TestVerifySchema1X5C(t *testing.T) {
	t.Parallel()
	key := ecKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	priv := key.(*ecdsa.PrivateKey)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	payload := schema1Doc(t, threeEntries()...)
	body, err := schema1sign.SignWithChain(payload, key, []*x509.Certificate{cert})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"x5c"`) || strings.Contains(string(body), `"jwk"`) {
		t.Fatalf("fixture does not use x5c:\n%s", body)
	}
	checkSigned(t, body, payload)
}

func TestVerifySchema1Unsigned(t *testing.T) {
	t.Parallel()
	body := schema1Doc(t, threeEntries()...)
	got, err := VerifySchema1(body)
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("VerifySchema1(unsigned) = %q, %v; want the body back", got, err)
	}
	p, err := Parse(MediaTypeDockerSchema1Signed, body)
	if err != nil || p.MediaType != MediaTypeDockerSchema1 {
		t.Errorf("Parse(unsigned) = %+v, %v; want media type %s", p, err, MediaTypeDockerSchema1)
	}
}

// firstSignature returns the first signature object of a signed body, decoded.
func firstSignature(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var doc struct {
		Signatures []map[string]any `json:"signatures"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.Signatures) == 0 {
		t.Fatalf("decode signatures: %v", err)
	}
	return doc.Signatures[0]
}

// withSignature rebuilds a signed body with its first signature object
// changed by edit; the signed prefix stays byte for byte the same.
func withSignature(t *testing.T, body []byte, edit func(map[string]any)) []byte {
	t.Helper()
	sig := firstSignature(t, body)
	edit(sig)
	i := bytes.Index(body, []byte(`"signatures"`))
	if i < 0 {
		t.Fatal("no signatures in body")
	}
	out := append([]byte{}, body[:i]...)
	out = append(out, `"signatures":[`...)
	out = append(out, mustJSON(t, sig)...)
	return append(out, "]}"...)
}

func TestVerifySchema1Rejects(t *testing.T) {
	t.Parallel()
	key := ecKey(t)
	payload := schema1Doc(t, threeEntries()...)
	body := sign(t, payload, key)
	sig := firstSignature(t, body)
	sigValue := sig["signature"].(string)
	protected := sig["protected"].(string)

	flipped := []byte(sigValue)
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	var ph map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(protected)
	if err := json.Unmarshal(raw, &ph); err != nil {
		t.Fatal(err)
	}
	ph["time"] = "2001-02-03T04:05:06Z"
	retimed := base64.RawURLEncoding.EncodeToString(mustJSON(t, ph))
	ph["formatLength"] = ph["formatLength"].(float64) - 1
	shortened := base64.RawURLEncoding.EncodeToString(mustJSON(t, ph))

	other := ecKey(t).Public()
	otherJWK, err := schema1sign.JWK(other)
	if err != nil {
		t.Fatal(err)
	}
	ownKid := keyID(t, key.Public())

	mixed := sign(t, schema1Doc(t, v1Entry{name: "solo"}), newKey(t, "ES384"))
	// A second signature over another payload, spliced in.
	otherBody := sign(t, schema1Doc(t, v1Entry{name: "other"}, v1Entry{name: "base2"}), key)
	otherSig, _ := json.Marshal(firstSignature(t, otherBody))

	if _, err := VerifySchema1(withSignature(t, body, func(map[string]any) {})); err != nil {
		t.Fatalf("withSignature breaks an untouched signature: %v", err)
	}

	tests := []struct {
		name string
		body []byte
		msg  string
	}{
		{"tampered payload", replaceOnce(t, body, `"tag": "latest"`, `"tag": "lateSt"`), "invalid signature"},
		{"tampered signature", replaceOnce(t, body, sigValue, string(flipped)), "invalid signature"},
		{"truncated signature", replaceOnce(t, body, sigValue, sigValue[:20]), "bytes"},
		{"protected header altered", replaceOnce(t, body, protected, retimed), "invalid signature"},
		{"format length altered", replaceOnce(t, body, protected, shortened), ""},
		{"substituted key", withSignature(t, body, func(sig map[string]any) {
			sig["header"].(map[string]any)["jwk"] = json.RawMessage(otherJWK)
		}), "invalid signature"},
		{"kid does not match key", replaceOnce(t, body, ownKid, keyID(t, other)), "kid"},
		{"algorithm swapped", replaceOnce(t, body, `"alg": "ES256"`, `"alg": "ES384"`), "algorithm"},
		{"algorithm none", replaceOnce(t, body, `"alg": "ES256"`, `"alg": "none"`), "unsupported algorithm"},
		{"algorithm RSA on EC key", replaceOnce(t, body, `"alg": "ES256"`, `"alg": "RS256"`), "algorithm"},
		{"P-384 key claims ES256", replaceOnce(t, mixed, `"alg": "ES384"`, `"alg": "ES256"`), "algorithm"},
		{"no key", replaceOnce(t, body, `"jwk"`, `"nokey"`), "no public key"},
		{"empty signature list", append(append([]byte{}, payload[:len(payload)-2]...), []byte(`,"signatures":[]}`)...), "empty"},
		{"signatures not a list", append(append([]byte{}, payload[:len(payload)-2]...), []byte(`,"signatures":{}}`)...), "decode signatures"},
		{"conflicting payloads", replaceOnce(t, body, "\n   ]\n}", ","+string(otherSig)+"]}"), "different payload"},
		{"not json", []byte("signatures"), "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := VerifySchema1(tt.body)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("VerifySchema1 error = %v, want ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestSchema1PayloadNotBody(t *testing.T) {
	t.Parallel()
	// Content after formatLength is not signed; Parse and Digest must read
	// the signed payload, never the trailing bytes.
	payload := schema1Doc(t, threeEntries()...)
	body := sign(t, payload, ecKey(t))
	sneaky := replaceOnce(t, body, `"signatures": [`, `"tag": "evil", "signatures": [`)
	if _, err := VerifySchema1(sneaky); err != nil {
		t.Fatalf("VerifySchema1: %v", err)
	}
	p, err := Parse(MediaTypeDockerSchema1Signed, sneaky)
	if err != nil {
		t.Fatal(err)
	}
	if p.Schema1.Tag != "latest" {
		t.Errorf("Parse read tag %q from outside the signed payload", p.Schema1.Tag)
	}
	if d, _ := Digest(MediaTypeDockerSchema1Signed, sneaky); d != dgBytes(payload) {
		t.Errorf("Digest = %s, want %s", d, dgBytes(payload))
	}
}

func TestParseJWKKeys(t *testing.T) {
	t.Parallel()
	// Keys as libtrust serializes them parse to the same public key, kid
	// included (test/internal/schema1sign checks the serialization and the
	// ID against libtrust's).
	for _, alg := range []string{"ES256", "ES512", "RS256"} {
		k := newKey(t, alg)
		raw, err := schema1sign.JWK(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		pub, err := parseJWK(raw)
		if err != nil {
			t.Fatalf("parseJWK(%s): %v", raw, err)
		}
		if id, _ := libtrustKeyID(pub); id != keyID(t, k.Public()) {
			t.Errorf("key id %s, libtrust %s", id, keyID(t, k.Public()))
		}
	}
	bad := []string{
		`{"kty":"EC","crv":"P-224","x":"AA","y":"AA"}`,
		`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`,
		`{"kty":"oct","k":"AA"}`,
		`{"kty":"RSA","n":"","e":"AQAB"}`,
		`{"kty":"RSA","n":"AQAB","e":"AQABAQAB"}`,
		`[]`,
	}
	for _, b := range bad {
		if _, err := parseJWK(json.RawMessage(b)); err == nil {
			t.Errorf("parseJWK(%s) accepted", b)
		}
	}
	// A point that is not on the curve.
	n := (elliptic.P256().Params().BitSize + 7) / 8
	zero := base64.RawURLEncoding.EncodeToString(make([]byte, n))
	if _, err := parseJWK(json.RawMessage(`{"kty":"EC","crv":"P-256","x":"` + zero + `","y":"` + zero + `"}`)); err == nil {
		t.Error("parseJWK accepted the point at (0, 0)")
	}
}
