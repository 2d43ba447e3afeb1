package verify

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/verify/sigcheck"
	"github.com/imagec/imagec/verify/sigstore"
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

// checkOne checks sigs against req with the in-process checker, as Check
// does once the signatures are read, and returns why req is not met.
func checkOne(t *testing.T, sigs *signatures, req Requirement, d digest.Digest, ref reference.Reference) *failure {
	t.Helper()
	v := &Verifier{checker: sigstore.Checker{}}
	failures := make([]*failure, 1)
	if err := v.checkAll(context.Background(), sigs, "default", []Requirement{req}, []int{0}, ref, d, failures); err != nil {
		t.Fatal(err)
	}
	return failures[0]
}

// Each failure of a key-signed legacy signature says what failed: the
// signature (the checker's), then what the signed payload says (this
// package's).
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
		want sigcheck.Reason
		ok   bool
	}{
		"valid":          {good, keyRequirement(t, key), "", true},
		"second key":     {good, keyRequirement(t, other, key), "", true},
		"wrong key":      {good, keyRequirement(t, other), sigcheck.Signature, false},
		"tampered":       {tampered, keyRequirement(t, key), sigcheck.Signature, false},
		"another digest": {legacy(t, key, "registry.example.com/app", digest.FromString("other")), keyRequirement(t, key), sigcheck.Digest, false},
		"another repo":   {legacy(t, key, "registry.example.com/evil", d), keyRequirement(t, key), sigcheck.Identity, false},
		"no signature":   {legacySignature{payload: good.payload}, keyRequirement(t, key), sigcheck.Malformed, false},
	} {
		f := checkOne(t, &signatures{legacy: []legacySignature{tt.sig}}, tt.req, d, ref)
		if (f == nil) != tt.ok || (f != nil && f.reason != tt.want) {
			t.Errorf("%s: failure %+v, want reason %q", name, f, tt.want)
		}
	}
}

// The most telling failure of several is the one the user hears of; any
// signature that verifies meets the requirement.
func TestCheckMostTelling(t *testing.T) {
	t.Parallel()
	key, other := mustKey(t), mustKey(t)
	ref := reference.MustParse("registry.example.com/app:1")
	d := digest.FromString("manifest")
	wrongKey := legacy(t, other, "registry.example.com/app", d)
	elsewhere := legacy(t, key, "registry.example.com/app", digest.FromString("other"))
	if f := checkOne(t, &signatures{bundles: [][]byte{[]byte("{}")}, legacy: []legacySignature{wrongKey, elsewhere}}, keyRequirement(t, key), d, ref); f == nil || f.reason != sigcheck.Digest {
		t.Fatalf("failure %+v, want the digest's", f)
	}
	if f := checkOne(t, &signatures{legacy: []legacySignature{wrongKey, legacy(t, key, "registry.example.com/app", d)}}, keyRequirement(t, key), d, ref); f != nil {
		t.Fatalf("a valid signature among others: %+v", f)
	}
}

func TestCheckBundleKey(t *testing.T) {
	t.Parallel()
	key, other := mustKey(t), mustKey(t)
	ref := reference.MustParse("registry.example.com/app:1")
	d := digest.FromString("manifest")
	b, err := key.Bundle(d)
	if err != nil {
		t.Fatal(err)
	}
	sigs := &signatures{bundles: [][]byte{b}}
	if f := checkOne(t, sigs, keyRequirement(t, key), d, ref); f != nil {
		t.Fatalf("valid bundle: %s", f.msg)
	}
	if f := checkOne(t, sigs, keyRequirement(t, other), d, ref); f == nil || f.reason != sigcheck.Signature {
		t.Fatalf("wrong key: %+v", f)
	}
	if f := checkOne(t, sigs, keyRequirement(t, key), digest.FromString("other"), ref); f == nil || f.reason != sigcheck.Digest {
		t.Fatalf("another digest: %+v", f)
	}
	if f := checkOne(t, &signatures{bundles: [][]byte{[]byte(`{"mediaType":"x"}`)}}, keyRequirement(t, key), d, ref); f == nil || f.reason != sigcheck.Malformed {
		t.Fatalf("junk: %+v", f)
	}
}

func mustKey(t *testing.T) *signtest.Key { return signtest.MustNewKey(t) }

// Trust material the checker cannot use is an invalid argument, not a
// verdict: a trusted root that does not parse, or no key and no CA at all
// (which must never read as "anything verifies").
func TestCheckUnusableTrust(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	ref := reference.MustParse("registry.example.com/app:1")
	d := digest.FromString("manifest")
	sigs := &signatures{legacy: []legacySignature{legacy(t, key, "registry.example.com/app", d)}}
	for name, tt := range map[string]struct {
		trust *Trust
		want  string
	}{
		"broken root": {&Trust{Root: []byte(`{"mediaType":"` + TrustedRootMediaType + `","tlogs":[{"publicKey":{"rawBytes":"AA=="}}]}`), Issuer: "i", Subject: "s"}, "requirement 1: trusted root: "},
		"nothing":     {&Trust{}, "neither a key nor a certificate authority"},
	} {
		v := &Verifier{checker: sigstore.Checker{}}
		err := v.checkAll(context.Background(), sigs, "default", []Requirement{{Kind: SigstoreSigned, Trust: tt.trust}}, []int{0}, ref, d, make([]*failure, 1))
		if !errors.Is(err, errdefs.ErrInvalidArgument) || errors.Is(err, errdefs.ErrUntrusted) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A trusted root file is read as JSON of the trusted root media type; the
// rest of it is the checker's to read.
func TestLoadTrustedRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tt := range map[string]struct {
		doc  string
		want string
	}{
		"valid":       {`{"mediaType":"` + TrustedRootMediaType + `","tlogs":[]}`, ""},
		"not JSON":    {"-----BEGIN PUBLIC KEY-----", "invalid character"},
		"another one": {`{"mediaType":"application/json"}`, "unsupported TrustedRoot media type: application/json"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(p, []byte(tt.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadTrustedRoot(p)
		if tt.want == "" {
			if err != nil || string(got) != tt.doc {
				t.Errorf("%s: %q, %v", name, got, err)
			}
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := LoadTrustedRoot(filepath.Join(dir, "absent.json")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("absent: %v", err)
	}
}
