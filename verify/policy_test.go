package verify

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/reference"
)

func writeKey(t *testing.T, dir string) (*signtest.Key, string) {
	t.Helper()
	k, err := signtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(p, k.PublicPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, p
}

// The most specific scope wins; a scope list not naming an image falls to
// the transport's "" and then to the default.
func TestPolicyScopes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeKey(t, dir)
	p, err := ParsePolicy([]byte(`{
		"default": [{"type": "reject"}],
		"transports": {
			"docker": {
				"registry.example.com": [{"type": "reject"}],
				"registry.example.com/team": [{"type": "sigstoreSigned", "keyPath": "cosign.pub", "signedIdentity": {"type": "matchRepository"}}],
				"registry.example.com/team/open": [{"type": "insecureAcceptAnything"}],
				"*.example.org": [{"type": "insecureAcceptAnything"}]
			},
			"docker-daemon": {"": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/nowhere"}]}
		}
	}`), dir)
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"registry.example.com/team/open:1":         "registry.example.com/team/open",
		"registry.example.com/team/app:1":          "registry.example.com/team",
		"registry.example.com/other:1":             "registry.example.com",
		"mirror.eu.example.org/x:1":                "*.example.org",
		"docker.io/library/alpine:3":               "default",
		"localhost:5000/team/open@sha256:" + hex64: "default",
	} {
		scope, reqs := p.For(reference.MustParse(ref))
		if scope != want || len(reqs) != 1 {
			t.Errorf("For(%s) = %q (%d), want %q", ref, scope, len(reqs), want)
		}
	}
	if _, reqs := p.For(reference.MustParse("registry.example.com/team/app:1")); reqs[0].Kind != SigstoreSigned || len(reqs[0].Trust.Keys) != 1 || reqs[0].Identity.Kind != MatchRepository {
		t.Fatalf("team requirement = %+v", reqs[0])
	}
}

const hex64 = "0123456789012345678901234567890123456789012345678901234567890123"

func TestPolicyRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k, _ := writeKey(t, dir)
	keyData := base64.StdEncoding.EncodeToString(k.PublicPEM())
	for name, tt := range map[string]struct {
		doc  string
		want error
	}{
		"no default":       {`{"transports": {}}`, errdefs.ErrInvalidArgument},
		"unknown field":    {`{"default": [{"type": "sigstoreSigned", "keyPth": "cosign.pub"}]}`, errdefs.ErrInvalidArgument},
		"unknown type":     {`{"default": [{"type": "acceptAll"}]}`, errdefs.ErrInvalidArgument},
		"gpg":              {`{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}`, errdefs.ErrUnsupported},
		"empty list":       {`{"default": []}`, errdefs.ErrInvalidArgument},
		"no key":           {`{"default": [{"type": "sigstoreSigned"}]}`, errdefs.ErrInvalidArgument},
		"two forms":        {`{"default": [{"type": "sigstoreSigned", "keyPath": "cosign.pub", "keyData": "` + keyData + `"}]}`, errdefs.ErrInvalidArgument},
		"fulcio no rekor":  {`{"default": [{"type": "sigstoreSigned", "fulcio": {"caData": "` + keyData + `", "oidcIssuer": "i", "subjectEmail": "e"}}]}`, errdefs.ErrInvalidArgument},
		"missing key file": {`{"default": [{"type": "sigstoreSigned", "keyPath": "absent.pub"}]}`, errdefs.ErrInvalidArgument},
		"remap identity":   {`{"default": [{"type": "sigstoreSigned", "keyData": "` + keyData + `", "signedIdentity": {"type": "remapIdentity", "prefix": "a", "signedPrefix": "b"}}]}`, errdefs.ErrInvalidArgument},
		"bad wildcard":     {`{"default": [{"type": "reject"}], "transports": {"docker": {"a.*.com": [{"type": "reject"}]}}}`, errdefs.ErrInvalidArgument},
	} {
		if _, err := ParsePolicy([]byte(tt.doc), dir); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tt.want)
		}
	}
	if _, err := ParsePolicy([]byte(`{"default": [{"type": "sigstoreSigned", "keyData": "`+keyData+`"}]}`), dir); err != nil {
		t.Fatalf("keyData: %v", err)
	}
}

func TestIdentityMatches(t *testing.T) {
	t.Parallel()
	byTag := reference.MustParse("registry.example.com/app:1")
	byDigest := reference.MustParse("registry.example.com/app@sha256:" + hex64)
	for _, tt := range []struct {
		id     Identity
		signed string
		pulled reference.Reference
		want   bool
	}{
		{Identity{Kind: MatchRepository}, "registry.example.com/app", byTag, true},
		{Identity{Kind: MatchRepository}, "registry.example.com/other", byTag, false},
		{Identity{Kind: MatchRepoDigestOrExact}, "registry.example.com/app", byDigest, true},
		{Identity{Kind: MatchRepoDigestOrExact}, "registry.example.com/app", byTag, false},
		{Identity{Kind: MatchRepoDigestOrExact}, "registry.example.com/app:1", byTag, true},
		{Identity{Kind: MatchExact}, "registry.example.com/app:2", byTag, false},
		{Identity{Kind: ExactRepository, Reference: "registry.example.com/signed"}, "registry.example.com/signed", byTag, true},
		{Identity{}, "anything.example/else", byTag, true},
	} {
		if got := tt.id.Matches(tt.signed, tt.pulled); got != tt.want {
			t.Errorf("%+v.Matches(%q, %s) = %v", tt.id, tt.signed, tt.pulled, got)
		}
	}
}
