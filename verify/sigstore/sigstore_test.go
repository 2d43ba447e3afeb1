package sigstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/verify"
	"github.com/imagec/imagec/verify/sigcheck"
	"github.com/imagec/imagec/verify/sigstore"
)

// The in-process checker is a verify.Checker.
var _ verify.Checker = sigstore.Checker{}

func request(d digest.Digest, trust ...sigcheck.Trust) *sigcheck.Request {
	return &sigcheck.Request{Version: sigcheck.Version, Digest: d.String(), Trust: trust}
}

func keyTrust(keys ...*signtest.Key) sigcheck.Trust {
	var t sigcheck.Trust
	for _, k := range keys {
		t.Keys = append(t.Keys, string(k.PublicPEM()))
	}
	return t
}

// One request checks every candidate against every trust; the response
// answers it entry for entry.
func TestCheck(t *testing.T) {
	t.Parallel()
	key, other := signtest.MustNewKey(t), signtest.MustNewKey(t)
	d := digest.FromString("manifest")
	b, err := key.Bundle(d)
	if err != nil {
		t.Fatal(err)
	}
	payload := signtest.Payload("registry.example.com/app", d)
	ann, err := key.SignPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	req := request(d, keyTrust(key), keyTrust(other), keyTrust(other, key))
	req.Bundles = [][]byte{b, []byte("junk")}
	req.Legacy = []sigcheck.Legacy{
		{Payload: payload, Signature: ann[signtest.AnnotationSignature]},
		{Payload: []byte("tampered"), Signature: ann[signtest.AnnotationSignature]},
		{Payload: payload},
	}
	resp, err := sigstore.Check(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Validate(req); err != nil {
		t.Fatal(err)
	}
	reasons := func(rs []sigcheck.Result) string {
		var out []string
		for _, r := range rs {
			out = append(out, string(r.Reason))
		}
		return strings.Join(out, ",")
	}
	for i, want := range []string{
		",malformed/,signature,malformed",
		"signature,malformed/signature,signature,malformed",
		",malformed/,signature,malformed",
	} {
		tr := resp.Results[i]
		if got := reasons(tr.Bundles) + "/" + reasons(tr.Legacy); got != want || tr.Error != "" {
			t.Errorf("trust %d: %s (%q), want %s", i, got, tr.Error, want)
		}
	}
	// In-process, as a verify.Checker: the same, unless the context is done.
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := (sigstore.Checker{}).CheckSignatures(ctx, req); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := (sigstore.Checker{}).CheckSignatures(ctx, req); err == nil {
		t.Fatal("checked under a cancelled context")
	}
}

// A broken request is an error; unusable trust material is its trust's
// error, the other trusts still checked.
func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	key := signtest.MustNewKey(t)
	d := digest.FromString("manifest")
	if _, err := sigstore.Check(&sigcheck.Request{Version: 2, Digest: d.String()}); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("another version: %v", err)
	}
	if _, err := sigstore.Check(request("sha256:nothex", keyTrust(key))); err == nil {
		t.Error("a digest that does not parse")
	}
	req := request(d,
		sigcheck.Trust{TrustedRoot: []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{"publicKey":{"rawBytes":"AA=="}}]}`), Issuer: "i", Subject: "s"},
		sigcheck.Trust{Keys: []string{"not a key"}},
		sigcheck.Trust{},
		keyTrust(key),
	)
	req.Bundles = [][]byte{[]byte("{}")}
	resp, err := sigstore.Check(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Validate(req); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"trusted root", "key 1", "neither a key", ""} {
		if got := resp.Results[i].Error; !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("trust %d: error %q, want %q", i, got, want)
		}
	}
}
