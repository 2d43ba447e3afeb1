package manifest_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/docker/libtrust"

	"github.com/imagec/imagec/internal/schema1sign"
)

// internal/schema1sign signs the fixtures of manifest's schema 1 tests in
// libtrust's place; these tests hold it to libtrust.

// What schema1sign writes is what libtrust writes, byte for byte but for
// the signature values and the protected headers' times (new on every
// run), and libtrust verifies it with the same keys and recovers the
// payload.
func TestSchema1SignIsLibtrusts(t *testing.T) {
	t.Parallel()
	payload := schema1Doc(t)
	for alg := range libtrustKeys {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			k, other := newLibtrustKey(t, alg), newLibtrustKey(t, "ES256")
			ours, err := schema1sign.Sign(payload, signer(k), signer(other))
			if err != nil {
				t.Fatal(err)
			}
			sameLayout(t, ours, libtrustSign(t, payload, k, other))
			verifiedBy(t, ours, payload, k, other)
		})
	}
}

// The same with the key named by a certificate chain (x5c).
func TestSchema1SignWithChainIsLibtrusts(t *testing.T) {
	t.Parallel()
	payload := schema1Doc(t)
	k := newLibtrustKey(t, "ES256")
	chain := []*x509.Certificate{selfSigned(t, k)}
	ours, err := schema1sign.SignWithChain(payload, signer(k), chain)
	if err != nil {
		t.Fatal(err)
	}
	js, err := libtrust.NewJSONSignature(payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.SignWithChain(k, chain); err != nil {
		t.Fatal(err)
	}
	theirs, err := js.PrettySignature("signatures")
	if err != nil {
		t.Fatal(err)
	}
	sameLayout(t, ours, theirs)
	verifiedBy(t, ours, payload, k)
}

// Keys serialize and are named as libtrust serializes and names them.
func TestSchema1SignKeysAreLibtrusts(t *testing.T) {
	t.Parallel()
	for alg := range libtrustKeys {
		k := newLibtrustKey(t, alg)
		jwk, err := schema1sign.JWK(signer(k).Public())
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(k.PublicKey())
		if err != nil || !bytes.Equal(jwk, want) {
			t.Errorf("%s: JWK %s, libtrust %s (%v)", alg, jwk, want, err)
		}
		if id, err := schema1sign.KeyID(signer(k).Public()); err != nil || id != k.KeyID() {
			t.Errorf("%s: key ID %s (%v), libtrust %s", alg, id, err, k.KeyID())
		}
	}
}

var (
	signedValue = regexp.MustCompile(`"(signature|protected)": "[^"]*"`)
	protected   = regexp.MustCompile(`"protected": "([^"]*)"`)
)

// sameLayout fails unless ours and theirs are the same bytes once every
// signature value and protected header is blanked, and their protected
// headers agree on where the signatures go.
func sameLayout(t *testing.T, ours, theirs []byte) {
	t.Helper()
	blank := func(b []byte) []byte { return signedValue.ReplaceAll(b, []byte(`"$1": ""`)) }
	if !bytes.Equal(blank(ours), blank(theirs)) {
		t.Fatalf("schema1sign wrote\n%s\nlibtrust\n%s", ours, theirs)
	}
	format := func(b []byte) []string {
		var out []string
		for _, m := range protected.FindAllSubmatch(b, -1) {
			raw, err := base64.RawURLEncoding.DecodeString(string(m[1]))
			var h struct {
				FormatLength int    `json:"formatLength"`
				FormatTail   string `json:"formatTail"`
			}
			if err != nil || json.Unmarshal(raw, &h) != nil {
				t.Fatalf("protected header %s: %v", m[1], err)
			}
			out = append(out, fmt.Sprint(h.FormatLength, " ", h.FormatTail))
		}
		return out
	}
	if f, g := format(ours), format(theirs); !slices.Equal(f, g) || len(f) == 0 {
		t.Fatalf("protected headers place the signatures at %q, libtrust at %q", f, g)
	}
}

// verifiedBy fails unless libtrust verifies body with exactly keys and
// recovers payload from it.
func verifiedBy(t *testing.T, body, payload []byte, keys ...libtrust.PrivateKey) {
	t.Helper()
	js, err := libtrust.ParsePrettySignature(body, "signatures")
	if err != nil {
		t.Fatal(err)
	}
	got, err := js.Verify()
	if err != nil {
		t.Fatalf("libtrust rejects schema1sign's signature: %v", err)
	}
	var ids, want []string
	for _, k := range got {
		ids = append(ids, k.KeyID())
	}
	for _, k := range keys {
		want = append(want, k.KeyID())
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("libtrust verified with keys %v, want %v", ids, want)
	}
	if p, err := js.Payload(); err != nil || !bytes.Equal(p, payload) {
		t.Errorf("libtrust recovers %q, %v", p, err)
	}
}
