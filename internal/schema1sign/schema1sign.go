// Package schema1sign signs Docker schema 1 manifests as docker/distribution's
// schema1.Sign does (libtrust's "pretty" JWS: the document, then a
// "signatures" member), with the standard library alone, for the tests of
// imagec's schema 1 verifier. libtrust itself stays out of the library's
// module: test/manifest checks there that libtrust accepts what this
// package writes, lays it out byte for byte as libtrust does, and names
// and serializes keys as libtrust does.
package schema1sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode"
)

// header is libtrust's jsHeader: a signature names its key by JWK or by an
// x5c certificate chain.
type header struct {
	JWK       json.RawMessage `json:"jwk,omitempty"`
	Algorithm string          `json:"alg"`
	Chain     []string        `json:"x5c,omitempty"`
}

type signature struct {
	Header    header `json:"header"`
	Signature string `json:"signature"`
	Protected string `json:"protected,omitempty"`
	kid       string // the order libtrust writes signatures in
}

// Sign returns payload, a JSON object, with one signature by each key
// (*ecdsa.PrivateKey on P-256, P-384 or P-521, or *rsa.PrivateKey) named by
// its JWK, in libtrust's order and indented as payload is.
func Sign(payload []byte, keys ...crypto.Signer) ([]byte, error) {
	var sigs []signature
	for _, k := range keys {
		jwk, err := JWK(k.Public())
		if err != nil {
			return nil, err
		}
		kid, err := KeyID(k.Public())
		if err != nil {
			return nil, err
		}
		sig, err := sign(payload, k, header{JWK: jwk})
		if err != nil {
			return nil, err
		}
		sig.kid = kid
		sigs = append(sigs, sig)
	}
	return pretty(payload, sigs)
}

// SignWithChain returns payload signed by key, which it names by chain
// (x5c, the leaf first) instead of a JWK.
func SignWithChain(payload []byte, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	h := header{Chain: []string{}}
	for _, c := range chain {
		h.Chain = append(h.Chain, base64.StdEncoding.EncodeToString(c.Raw))
	}
	sig, err := sign(payload, key, h)
	if err != nil {
		return nil, err
	}
	return pretty(payload, []signature{sig})
}

// JWK is pub serialized as libtrust serializes public keys: kty, kid and
// the key's parameters, in key order.
func JWK(pub crypto.PublicKey) (json.RawMessage, error) {
	kid, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	m := map[string]string{"kid": kid}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		point, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		n := (len(point) - 1) / 2
		m["kty"], m["crv"] = "EC", k.Curve.Params().Name
		m["x"], m["y"] = encode(point[1:1+n]), encode(point[1+n:])
	case *rsa.PublicKey:
		// The exponent in as few bytes as it takes.
		m["kty"], m["n"] = "RSA", encode(k.N.Bytes())
		m["e"] = encode(big.NewInt(int64(k.E)).Bytes())
	default:
		return nil, fmt.Errorf("schema1sign: unsupported key %T", pub)
	}
	return json.Marshal(m)
}

// KeyID is libtrust's key ID: the first 240 bits of the SHA-256 of the DER
// (PKIX) public key in base32, in groups of four joined by colons.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("schema1sign: %w", err)
	}
	sum := sha256.Sum256(der)
	enc := base32.StdEncoding.EncodeToString(sum[:30]) // 48 characters, no padding
	var groups []string
	for i := 0; i < len(enc); i += 4 {
		groups = append(groups, enc[i:i+4])
	}
	return strings.Join(groups, ":"), nil
}

// sign signs payload as libtrust's JSONSignature.Sign does: the protected
// header records where the signed document's closing brace begins (the
// signatures go there) and what follows it.
func sign(payload []byte, key crypto.Signer, h header) (signature, error) {
	n, err := formatLength(payload)
	if err != nil {
		return signature{}, err
	}
	protected, err := json.Marshal(map[string]any{
		"formatLength": n,
		"formatTail":   encode(payload[n:]),
		"time":         time.Now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return signature{}, err
	}
	p := encode(protected)
	input := []byte(p + "." + encode(payload))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		alg, hash, err := ecAlgorithm(k.Curve)
		if err != nil {
			return signature{}, err
		}
		d := hash.New()
		d.Write(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, d.Sum(nil))
		if err != nil {
			return signature{}, err
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...)
		h.Algorithm = alg
	case *rsa.PrivateKey:
		sum := sha256.Sum256(input)
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:]); err != nil {
			return signature{}, err
		}
		h.Algorithm = "RS256"
	default:
		return signature{}, fmt.Errorf("schema1sign: unsupported key %T", key)
	}
	return signature{Header: h, Signature: encode(sig), Protected: p}, nil
}

// ecAlgorithm is the JWS algorithm libtrust uses for a curve: the curve
// decides the hash.
func ecAlgorithm(c elliptic.Curve) (string, crypto.Hash, error) {
	switch c {
	case elliptic.P256():
		return "ES256", crypto.SHA256, nil
	case elliptic.P384():
		return "ES384", crypto.SHA384, nil
	case elliptic.P521():
		return "ES512", crypto.SHA512, nil
	}
	return "", 0, fmt.Errorf("schema1sign: unsupported curve %s", c.Params().Name)
}

// formatLength is where the signatures are spliced in: just after the last
// character before the document's closing brace.
func formatLength(payload []byte) (int, error) {
	var v map[string]any
	if err := json.Unmarshal(payload, &v); err != nil {
		return 0, fmt.Errorf("schema1sign: payload: %w", err)
	}
	notSpace := func(r rune) bool { return !unicode.IsSpace(r) }
	end := bytes.LastIndexFunc(payload, notSpace)
	last := bytes.LastIndexFunc(payload[:end], notSpace)
	if payload[end] != '}' || last < 0 || payload[last] == ',' {
		return 0, errors.New("schema1sign: payload is not a JSON object libtrust can sign")
	}
	return last + 1, nil
}

// pretty is libtrust's PrettySignature("signatures"): the document up to
// formatLength, then the signatures, marshalled with the document's own
// indent.
func pretty(payload []byte, sigs []signature) ([]byte, error) {
	n, err := formatLength(payload)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(sigs, func(a, b signature) int {
		if c := strings.Compare(a.kid, b.kid); c != 0 {
			return c
		}
		return strings.Compare(a.Signature, b.Signature)
	})
	indent := indentOf(payload)
	var list []byte
	if indent != "" {
		list, err = json.MarshalIndent(sigs, indent, indent)
	} else {
		list, err = json.Marshal(sigs)
	}
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(payload[:n])
	if indent != "" {
		b.WriteString(",\n" + indent + `"signatures": `)
		b.Write(list)
		b.WriteString("\n}")
	} else {
		b.WriteString(`,"signatures":`)
		b.Write(list)
		b.WriteString("}")
	}
	return b.Bytes(), nil
}

// indentOf is the indent of the document's first member, as libtrust
// detects it: "" for a document on one line.
func indentOf(payload []byte) string {
	if len(payload) < 3 || payload[0] != '{' || payload[1] != '\n' {
		return ""
	}
	if q := bytes.IndexByte(payload[1:], '"'); q > 0 {
		return string(payload[2 : q+1])
	}
	return ""
}

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
