package verify

import (
	"crypto"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/reference"
)

func keyRequirement(t *testing.T, keys ...*signtest.Key) Requirement {
	t.Helper()
	var pubs []crypto.PublicKey
	for _, k := range keys {
		pub, err := ParsePublicKey(k.PublicPEM())
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	return Requirement{Kind: SigstoreSigned, Trust: &Trust{Keys: pubs}, Identity: Identity{Kind: MatchRepository}}
}

func legacy(t *testing.T, k *signtest.Key, repo string, d digest.Digest) legacySignature {
	t.Helper()
	p := signtest.Payload(repo, d)
	ann, err := k.SignPayload(p)
	if err != nil {
		t.Fatal(err)
	}
	return legacySignature{payload: p, annotations: ann}
}

// Each failure of a key-signed legacy signature says what failed.
func TestCheckLegacy(t *testing.T) {
	t.Parallel()
	key, other := mustKey(t), mustKey(t)
	ref := reference.MustParse("registry.example.com/app:1")
	d := digest.FromString("manifest")
	good := legacy(t, key, "registry.example.com/app", d)
	tampered := good
	tampered.payload = signtest.Payload("registry.example.com/app", digest.FromString("other"))
	for name, tt := range map[string]struct {
		sig  legacySignature
		req  Requirement
		want *reason
	}{
		"valid":          {good, keyRequirement(t, key), nil},
		"second key":     {good, keyRequirement(t, other, key), nil},
		"wrong key":      {good, keyRequirement(t, other), ptr(reasonSignature)},
		"tampered":       {tampered, keyRequirement(t, key), ptr(reasonSignature)},
		"another digest": {legacy(t, key, "registry.example.com/app", digest.FromString("other")), keyRequirement(t, key), ptr(reasonDigest)},
		"another repo":   {legacy(t, key, "registry.example.com/evil", d), keyRequirement(t, key), ptr(reasonIdentity)},
		"no signature":   {legacySignature{payload: good.payload}, keyRequirement(t, key), ptr(reasonMalformed)},
	} {
		f := checkLegacy(tt.sig, tt.req, d, ref)
		if (f == nil) != (tt.want == nil) || (f != nil && f.reason != *tt.want) {
			t.Errorf("%s: failure %+v, want reason %v", name, f, tt.want)
		}
	}
}

func TestCheckBundleKey(t *testing.T) {
	t.Parallel()
	key, other := mustKey(t), mustKey(t)
	d := digest.FromString("manifest")
	b, err := key.Bundle(d)
	if err != nil {
		t.Fatal(err)
	}
	if f := checkBundle(b, keyRequirement(t, key), d); f != nil {
		t.Fatalf("valid bundle: %v", f.err)
	}
	if f := checkBundle(b, keyRequirement(t, other), d); f == nil || f.reason != reasonSignature {
		t.Fatalf("wrong key: %+v", f)
	}
	if f := checkBundle(b, keyRequirement(t, key), digest.FromString("other")); f == nil || f.reason != reasonDigest {
		t.Fatalf("another digest: %+v", f)
	}
	if f := checkBundle([]byte(`{"mediaType":"x"}`), keyRequirement(t, key), d); f == nil || f.reason != reasonMalformed {
		t.Fatalf("junk: %+v", f)
	}
}

func mustKey(t *testing.T) *signtest.Key { return signtest.MustNewKey(t) }

func ptr(r reason) *reason { return &r }
