package manifest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	// The JWS algorithms hash with these; importing them registers them with
	// crypto.Hash.New.
	_ "crypto/sha512"

	"github.com/imagec/imagec/errdefs"
)

// Signed schema 1 manifests use libtrust's "pretty JWS" form: the JSON
// document with a "signatures" array spliced in before the closing brace.
// Every signature's protected header records how to cut the signatures back
// out (formatLength: bytes of the body to keep; formatTail: bytes to append),
// which yields the canonical payload that was signed and that docker hashes
// for the manifest digest.

type jwsHeader struct {
	JWK json.RawMessage `json:"jwk"`
	Alg string          `json:"alg"`
	X5C []string        `json:"x5c"`
}

type jwsSignature struct {
	Header    jwsHeader `json:"header"`
	Signature string    `json:"signature"`
	Protected string    `json:"protected"`
}

type jwsProtected struct {
	FormatLength *int    `json:"formatLength"`
	FormatTail   *string `json:"formatTail"`
}

// schema1JWS is a schema 1 body split into its canonical payload and its
// signatures (none for an unsigned manifest, whose payload is the body).
type schema1JWS struct {
	payload    []byte
	signatures []jwsSignature
}

func (j *schema1JWS) signed() bool { return len(j.signatures) > 0 }

func sigError(format string, args ...any) error {
	return fmt.Errorf("schema1 signature "+format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// parseSchema1JWS extracts the payload and signatures of body without
// checking any signature.
func parseSchema1JWS(body []byte) (*schema1JWS, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("decode schema1 manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	raw, ok := top["signatures"]
	if !ok {
		return &schema1JWS{payload: body}, nil
	}
	var sigs []jwsSignature
	if err := json.Unmarshal(raw, &sigs); err != nil {
		return nil, sigError("decode signatures: %v", err)
	}
	if len(sigs) == 0 {
		return nil, sigError("block is empty")
	}
	length, tail := -1, []byte(nil)
	for i, s := range sigs {
		pb, err := b64urlDecode(s.Protected)
		if err != nil {
			return nil, sigError("%d: protected header: %v", i, err)
		}
		var ph jwsProtected
		if err := json.Unmarshal(pb, &ph); err != nil {
			return nil, sigError("%d: decode protected header: %v", i, err)
		}
		if ph.FormatLength == nil || ph.FormatTail == nil {
			return nil, sigError("%d: protected header lacks formatLength or formatTail", i)
		}
		t, err := b64urlDecode(*ph.FormatTail)
		if err != nil {
			return nil, sigError("%d: formatTail: %v", i, err)
		}
		// Signatures over different payloads would leave it open which
		// content the manifest is.
		if i > 0 && (*ph.FormatLength != length || !bytes.Equal(t, tail)) {
			return nil, sigError("%d: covers a different payload than signature 0", i)
		}
		length, tail = *ph.FormatLength, t
	}
	if length <= 0 || length > len(body) {
		return nil, sigError("formatLength %d outside the %d byte body", length, len(body))
	}
	payload := make([]byte, 0, length+len(tail))
	payload = append(append(payload, body[:length]...), tail...)
	return &schema1JWS{payload: payload, signatures: sigs}, nil
}

// VerifySchema1 verifies every signature of a signed schema 1 manifest and
// returns its canonical payload; an unsigned one (no "signatures") is
// returned unchanged. The keys are the ones the signatures carry (JWK or the
// first x5c certificate) and no certificate chain is checked, as in docker:
// a valid signature proves the payload is intact, not who signed it.
// Failures wrap errdefs.ErrInvalidArgument.
func VerifySchema1(body []byte) ([]byte, error) {
	jws, err := parseSchema1JWS(body)
	if err != nil {
		return nil, err
	}
	if !jws.signed() {
		return body, nil
	}
	if !json.Valid(jws.payload) {
		return nil, sigError("payload is not valid JSON")
	}
	payload64 := base64.RawURLEncoding.EncodeToString(jws.payload)
	for i, s := range jws.signatures {
		if err := verifyJWS(s, s.Protected+"."+payload64); err != nil {
			return nil, sigError("%d (%s): %v", i, s.Header.Alg, err)
		}
	}
	return jws.payload, nil
}

type jwsAlg struct {
	hash  crypto.Hash
	curve elliptic.Curve // nil for RSA
}

var jwsAlgs = map[string]jwsAlg{
	"ES256": {crypto.SHA256, elliptic.P256()},
	"ES384": {crypto.SHA384, elliptic.P384()},
	"ES512": {crypto.SHA512, elliptic.P521()},
	"RS256": {hash: crypto.SHA256},
	"RS384": {hash: crypto.SHA384},
	"RS512": {hash: crypto.SHA512},
}

func verifyJWS(s jwsSignature, signingInput string) error {
	alg, ok := jwsAlgs[s.Header.Alg]
	if !ok {
		return errors.New("unsupported algorithm")
	}
	pub, err := signatureKey(s.Header)
	if err != nil {
		return err
	}
	sig, err := b64urlDecode(s.Signature)
	if err != nil {
		return fmt.Errorf("signature encoding: %v", err)
	}
	h := alg.hash.New()
	h.Write([]byte(signingInput))
	sum := h.Sum(nil)
	switch key := pub.(type) {
	case *ecdsa.PublicKey:
		if alg.curve == nil || key.Curve != alg.curve {
			return fmt.Errorf("algorithm does not match the %s key", key.Curve.Params().Name)
		}
		n := (key.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return fmt.Errorf("signature is %d bytes, want %d", len(sig), 2*n)
		}
		r, sv := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(key, sum, r, sv) {
			return errors.New("invalid signature")
		}
	case *rsa.PublicKey:
		if alg.curve != nil {
			return errors.New("algorithm does not match the RSA key")
		}
		if err := rsa.VerifyPKCS1v15(key, alg.hash, sum, sig); err != nil {
			return fmt.Errorf("invalid signature: %v", err)
		}
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

// signatureKey returns the public key a signature names: the first x5c
// certificate's if there is a chain, else the JWK.
func signatureKey(h jwsHeader) (crypto.PublicKey, error) {
	if len(h.X5C) > 0 {
		der, err := base64.StdEncoding.DecodeString(h.X5C[0])
		if err != nil {
			return nil, fmt.Errorf("x5c certificate encoding: %v", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c certificate: %v", err)
		}
		return cert.PublicKey, nil
	}
	if !present(h.JWK) {
		return nil, errors.New("no public key (jwk or x5c)")
	}
	return parseJWK(h.JWK)
}

type jwk struct {
	Kty string  `json:"kty"`
	Crv string  `json:"crv"`
	X   string  `json:"x"`
	Y   string  `json:"y"`
	N   string  `json:"n"`
	E   string  `json:"e"`
	Kid *string `json:"kid"`
}

// maxRSABytes bounds the modulus a signature may bring: verification cost
// grows with it and real keys are 2048 or 4096 bits.
const maxRSABytes = 8192 / 8

func parseJWK(raw json.RawMessage) (crypto.PublicKey, error) {
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("decode jwk: %v", err)
	}
	var pub crypto.PublicKey
	switch k.Kty {
	case "EC":
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[k.Crv]
		if curve == nil {
			return nil, fmt.Errorf("unsupported EC curve %q", k.Crv)
		}
		n := (curve.Params().BitSize + 7) / 8
		x, errX := b64urlDecode(k.X)
		y, errY := b64urlDecode(k.Y)
		if errX != nil || errY != nil || len(x) != n || len(y) != n {
			return nil, fmt.Errorf("jwk %s coordinates are not %d-byte base64url values", k.Crv, n)
		}
		point := append(append([]byte{4}, x...), y...)
		ec, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("jwk: %v", err)
		}
		pub = ec
	case "RSA":
		n, errN := b64urlDecode(k.N)
		e, errE := b64urlDecode(k.E)
		if errN != nil || errE != nil || len(n) == 0 || len(n) > maxRSABytes || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("jwk RSA modulus or exponent malformed")
		}
		var exp int
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	default:
		return nil, fmt.Errorf("unsupported jwk key type %q", k.Kty)
	}
	// libtrust rejects a key whose stated ID is not its fingerprint, so a
	// manifest docker would refuse is refused here too.
	if k.Kid != nil {
		id, err := libtrustKeyID(pub)
		if err != nil {
			return nil, err
		}
		if *k.Kid != id {
			return nil, fmt.Errorf("jwk kid %q does not match the key (%s)", *k.Kid, id)
		}
	}
	return pub, nil
}

// libtrustKeyID is libtrust's key fingerprint: the first 240 bits of the
// SHA-256 of the DER public key, base32 in colon-separated groups of four.
func libtrustKeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("jwk: %v", err)
	}
	sum := sha256.Sum256(der)
	s := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	groups := make([]string, 0, len(s)/4)
	for len(s) > 4 {
		groups = append(groups, s[:4])
		s = s[4:]
	}
	return strings.Join(append(groups, s), ":"), nil
}

// b64urlDecode accepts base64url with or without padding, as libtrust does.
func b64urlDecode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
