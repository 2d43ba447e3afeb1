package verify_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/test/internal/keyless"
	"github.com/imagec/imagec/test/internal/testregistry"
	"github.com/imagec/imagec/verify"
)

const (
	signer = "builder@example.com"
	issuer = "https://issuer.example.com"
)

// check runs the verifier of policy against the image, with each
// checker, and returns the error ("" when accepted): the same with both.
func check(t *testing.T, e *env, p *verify.Policy) string {
	t.Helper()
	got := map[string]string{}
	for name, c := range checkers(t) {
		_, err := verify.New(e.client, p, verify.WithChecker(c)).Check(ctx, e.ref, e.ref, e.digest())
		if err == nil {
			got[name] = ""
			continue
		}
		if !errors.Is(err, errdefs.ErrUntrusted) {
			t.Fatalf("%s: not an ErrUntrusted failure: %v", name, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: reason is not one line: %q", name, err)
		}
		got[name] = err.Error()
	}
	if got["in-process"] != got["helper"] {
		t.Errorf("the checkers disagree:\nin-process: %q\nhelper:     %q", got["in-process"], got["helper"])
	}
	return got["helper"]
}

func keyPolicy(t *testing.T, k *signtest.Key) *verify.Policy {
	t.Helper()
	p, err := verify.KeyPolicy(k.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Key-signed, in both forms, with the referrers API and without: each
// verifies, and each failure says which.
func TestKeySignatures(t *testing.T) {
	t.Parallel()
	key, other := mustKey(t), mustKey(t)
	for _, api := range []bool{true, false} {
		for _, form := range []string{"legacy", "bundle"} {
			t.Run(fmt.Sprintf("%s/api=%v", form, api), func(t *testing.T) {
				t.Parallel()
				var opts []testregistry.Option
				if api {
					opts = append(opts, testregistry.WithReferrersAPI(1))
				}
				e := newEnv(t, fixtures.OCI, opts...)
				if got := check(t, e, keyPolicy(t, key)); !strings.Contains(got, "no signature for "+e.digest().String()) {
					t.Fatalf("unsigned: %q", got)
				}
				if form == "legacy" {
					p := signtest.Payload(e.repo, e.digest())
					ann, _ := key.SignPayload(p)
					e.pushLegacy(t, [][]byte{p}, []map[string]string{ann})
				} else {
					b, err := key.Bundle(e.digest())
					if err != nil {
						t.Fatal(err)
					}
					e.pushBundle(t, b)
				}
				if got := check(t, e, keyPolicy(t, key)); got != "" {
					t.Fatalf("valid: %s", got)
				}
				if got := check(t, e, keyPolicy(t, other)); !strings.Contains(got, "wrong key") {
					t.Fatalf("wrong key: %q", got)
				}
			})
		}
	}
}

// A tampered payload, a signature of another digest and of another
// repository each fail with their own reason.
func TestLegacyFailures(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	e := newEnv(t, fixtures.OCI)
	good := signtest.Payload(e.repo, e.digest())
	ann, _ := key.SignPayload(good)
	tampered := []byte(strings.Replace(string(good), e.repo, e.reg.Host+"/evil", 1))
	e.pushLegacy(t, [][]byte{tampered}, []map[string]string{ann})
	if got := check(t, e, keyPolicy(t, key)); !strings.Contains(got, "wrong key") {
		t.Fatalf("tampered: %q", got)
	}

	other := signtest.Payload(e.repo, digest.FromString("another image"))
	ann2, _ := key.SignPayload(other)
	e.pushLegacy(t, [][]byte{other}, []map[string]string{ann2})
	if got := check(t, e, keyPolicy(t, key)); !strings.Contains(got, "payload for another digest") {
		t.Fatalf("another digest: %q", got)
	}

	// Signed for another repository: the key policy (cosign's rule)
	// takes it, a policy asking matchRepository does not.
	elsewhere := signtest.Payload(e.reg.Host+"/elsewhere", e.digest())
	ann3, _ := key.SignPayload(elsewhere)
	e.pushLegacy(t, [][]byte{elsewhere}, []map[string]string{ann3})
	if got := check(t, e, keyPolicy(t, key)); got != "" {
		t.Fatalf("key policy, another repository: %s", got)
	}
	keyFile := writeFile(t, "cosign.pub", key.PublicPEM())
	p, err := verify.ParsePolicy([]byte(`{"default":[{"type":"sigstoreSigned","keyPath":"`+keyFile+`","signedIdentity":{"type":"matchRepository"}}]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := check(t, e, p); !strings.Contains(got, "wrong identity") {
		t.Fatalf("matchRepository, another repository: %q", got)
	}
}

// Keyless, in both forms: a certificate of the CA naming the identity and
// issuer, logged (the log's proof checked offline); another identity or
// issuer is refused as such.
func TestKeyless(t *testing.T) {
	t.Parallel()
	ss, err := keyless.New()
	if err != nil {
		t.Fatal(err)
	}
	ca := writeFile(t, "fulcio.pem", ss.FulcioPEM())
	rekor := writeFile(t, "rekor.pub", ss.RekorPEM())
	fulcioPolicy := func(t *testing.T, issuer, email string) *verify.Policy {
		t.Helper()
		p, err := verify.ParsePolicy([]byte(fmt.Sprintf(`{"default":[{"type":"sigstoreSigned","fulcio":{"caPath":%q,"oidcIssuer":%q,"subjectEmail":%q},"rekorPublicKeyPath":%q,"signedIdentity":{"type":"matchRepository"}}]}`, ca, issuer, email, rekor)), "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootJSON, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := verify.LoadTrustedRoot(writeFile(t, "trusted_root.json", rootJSON))
	if err != nil {
		t.Fatal(err)
	}
	rootPolicy := func(t *testing.T, issuer, identity string) *verify.Policy {
		t.Helper()
		p, err := verify.KeylessPolicy(&verify.Trust{Root: trusted}, issuer, identity)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, form := range []string{"legacy", "bundle"} {
		t.Run(form, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fixtures.OCI, testregistry.WithReferrersAPI(4))
			if form == "legacy" {
				p := signtest.Payload(e.repo, e.digest())
				ann, err := ss.SignPayload(signer, issuer, p)
				if err != nil {
					t.Fatal(err)
				}
				e.pushLegacy(t, [][]byte{p}, []map[string]string{ann})
			} else {
				b, err := ss.Bundle(signer, issuer, e.digest())
				if err != nil {
					t.Fatal(err)
				}
				e.pushBundle(t, b)
			}
			for name, p := range map[string]*verify.Policy{"policy file": fulcioPolicy(t, issuer, signer), "trusted root": rootPolicy(t, issuer, signer)} {
				if got := check(t, e, p); got != "" {
					t.Errorf("%s: valid: %s", name, got)
				}
			}
			for name, p := range map[string]*verify.Policy{
				"identity": fulcioPolicy(t, issuer, "mallory@example.com"),
				"issuer":   rootPolicy(t, "https://other.example.com", signer),
			} {
				if got := check(t, e, p); !strings.Contains(got, "wrong identity") {
					t.Errorf("another %s: %q", name, got)
				}
			}
			other, _ := keyless.New()
			otherCA := writeFile(t, "other.pem", other.FulcioPEM())
			p, err := verify.ParsePolicy([]byte(fmt.Sprintf(`{"default":[{"type":"sigstoreSigned","fulcio":{"caPath":%q,"oidcIssuer":%q,"subjectEmail":%q},"rekorPublicKeyPath":%q}]}`, otherCA, issuer, signer, rekor)), "")
			if err != nil {
				t.Fatal(err)
			}
			if got := check(t, e, p); got == "" {
				t.Error("another CA accepted")
			}
		})
	}
}

// Scopes: the default rejects, one repository accepts anything, another
// needs a signature; the most specific scope wins.
func TestPolicyScopes(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	e := newEnv(t, fixtures.OCI)
	keyFile := writeFile(t, "cosign.pub", key.PublicPEM())
	doc := fmt.Sprintf(`{"default":[{"type":"reject"}],"transports":{"docker":{
		%q:[{"type":"insecureAcceptAnything"}],
		%q:[{"type":"sigstoreSigned","keyPath":%q,"signedIdentity":{"type":"matchRepository"}}]}}}`, e.reg.Host+"/open", e.repo, keyFile)
	p, err := verify.ParsePolicy([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := check(t, e, p); !strings.Contains(got, "no signature") || !strings.Contains(got, `scope "`+e.repo+`"`) {
		t.Fatalf("signed scope, unsigned: %q", got)
	}
	pl := signtest.Payload(e.repo, e.digest())
	ann, _ := key.SignPayload(pl)
	e.pushLegacy(t, [][]byte{pl}, []map[string]string{ann})
	if got := check(t, e, p); got != "" {
		t.Fatalf("signed scope, signed: %s", got)
	}
	// cosign signs the repository without a tag, which the default
	// identity (matchRepoDigestOrExact) accepts for a pull by digest only,
	// as containers tools do.
	strict, err := verify.ParsePolicy([]byte(fmt.Sprintf(`{"default":[{"type":"sigstoreSigned","keyPath":%q}]}`, keyFile)), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := check(t, e, strict); !strings.Contains(got, "wrong identity") {
		t.Fatalf("matchRepoDigestOrExact by tag: %q", got)
	}
	byDigest := *e
	byDigest.ref = e.ref.WithDigest(e.digest())
	if got := check(t, &byDigest, strict); got != "" {
		t.Fatalf("matchRepoDigestOrExact by digest: %s", got)
	}
	open := *e
	if err := e.reg.Push(ctx, "open", "v1", e.img); err != nil {
		t.Fatal(err)
	}
	open.ref = mustRef(t, e.reg.Host+"/open:v1")
	if got := check(t, &open, p); got != "" {
		t.Fatalf("open scope: %s", got)
	}
	if err := e.reg.Push(ctx, "closed", "v1", e.img); err != nil {
		t.Fatal(err)
	}
	closed := *e
	closed.ref = mustRef(t, e.reg.Host+"/closed:v1")
	if got := check(t, &closed, p); !strings.Contains(got, "rejects") || !strings.Contains(got, `scope "default"`) {
		t.Fatalf("default scope: %q", got)
	}
}
