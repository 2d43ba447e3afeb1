package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/keyless"
	"github.com/imagec/imagec/verify"
	"github.com/imagec/imagec/verify/sigcheck"
)

// The helper checks keyless signatures, both forms, against a trusted root
// and against a CA and a log key, without the network: it connects to
// nothing when every proxy variable and the trusted root's URLs name a
// listening canary, and it gives the same answers in a network namespace
// of its own (no network at all), where the machine lets a test make one.
func TestHelperOffline(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var dials atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	canary := "http://" + ln.Addr().String()

	ss, err := keyless.New()
	if err != nil {
		t.Fatal(err)
	}
	rootJSON, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://rekor.virtual", "https://fulcio.virtual"} {
		if !bytes.Contains(rootJSON, []byte(u)) {
			t.Fatalf("trusted root without %s", u)
		}
		rootJSON = bytes.ReplaceAll(rootJSON, []byte(u), []byte(canary))
	}
	d := digest.FromString("manifest")
	b, err := ss.Bundle(signer, issuer, d)
	if err != nil {
		t.Fatal(err)
	}
	payload := signtest.Payload("registry.example.com/app", d)
	ann, err := ss.SignPayload(signer, issuer, payload)
	if err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(sigcheck.Request{
		Version: sigcheck.Version, Digest: d.String(),
		Trust: []sigcheck.Trust{
			{TrustedRoot: rootJSON, Issuer: issuer, Subject: signer},
			{FulcioCAs: []string{string(ss.FulcioPEM())}, RekorKeys: []string{string(ss.RekorPEM())}, Issuer: issuer, Subject: signer},
		},
		Bundles: [][]byte{b},
		Legacy: []sigcheck.Legacy{{
			Payload: payload, Signature: ann[verify.AnnotationSignature],
			Certificate: ann[verify.AnnotationCertificate], RekorBundle: ann[verify.AnnotationRekorBundle],
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string][]string{"proxies at a canary": {clitest.Helper(t)}}
	if err := exec.Command("unshare", "--net", "true").Run(); err == nil {
		runs["no network"] = []string{"unshare", "--net", clitest.Helper(t)}
	} else {
		t.Logf("no network namespace here (unshare --net: %v): checked with the canary only", err)
	}
	for name, argv := range runs {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{
			"HTTP_PROXY=" + canary, "HTTPS_PROXY=" + canary, "ALL_PROXY=" + canary, "http_proxy=" + canary, "https_proxy=" + canary,
			"SIGSTORE_REKOR_URL=" + canary, "HOME=" + t.TempDir(), "TUF_ROOT=" + t.TempDir(), "PATH=/usr/bin:/bin",
		}
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr.Bytes())
		}
		var resp sigcheck.Response
		var req sigcheck.Request
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_ = json.Unmarshal(in, &req)
		if err := resp.Validate(&req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, tr := range resp.Results {
			if tr.Error != "" || !tr.Bundles[0].OK() || !tr.Legacy[0].OK() {
				t.Errorf("%s: trust %d: %+v", name, i, tr)
			}
		}
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("the helper connected %d times", n)
	}
}

// Without imagec-sigstore, a check that needs a signature fails in one
// line naming it, before any signature is read (so an unsigned image too)
// and never as a verdict; a pull is refused before anything is named or
// any layer fetched. A policy that needs no signature needs no helper.
func TestVerifyNeedsHelper(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	e := newEnv(t, fixtures.Docker)
	missing := verify.WithChecker(verify.Helper(filepath.Join(t.TempDir(), verify.HelperName)))
	v := verify.New(e.client, keyPolicy(t, key), missing)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, verify.ErrNoHelper) || errors.Is(err, errdefs.ErrUntrusted) || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), "signature verification needs imagec-sigstore") {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := v.Check(ctx, e.ref, e.ref, e.digest())
	refused("unsigned", err)
	pl := signtest.Payload(e.repo, e.digest())
	ann, _ := key.SignPayload(pl)
	e.pushLegacy(t, [][]byte{pl}, []map[string]string{ann})
	_, err = v.Check(ctx, e.ref, e.ref, e.digest())
	refused("signed", err)

	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = pull.New(e.client, st).Pull(ctx, e.ref, pull.WithVerifier(v))
	refused("pull", err)
	if _, err := st.Image(ctx, e.ref.String()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("named without verification: %v", err)
	}
	for _, l := range e.img.Layers {
		if st.Has(ctx, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}) {
			t.Fatal("a layer was fetched")
		}
	}

	for doc, want := range map[string]error{
		`{"default":[{"type":"insecureAcceptAnything"}]}`: nil,
		`{"default":[{"type":"reject"}]}`:                 errdefs.ErrUntrusted,
	} {
		p, err := verify.ParsePolicy([]byte(doc), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.New(e.client, p, missing).Check(ctx, e.ref, e.ref, e.digest()); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// A check whose context ends kills the helper and says so.
func TestVerifyCancelled(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	e := newEnv(t, fixtures.OCI)
	pl := signtest.Payload(e.repo, e.digest())
	ann, _ := key.SignPayload(pl)
	e.pushLegacy(t, [][]byte{pl}, []map[string]string{ann})
	stuck := filepath.Join(t.TempDir(), verify.HelperName)
	if err := os.WriteFile(stuck, []byte("#!/bin/sh\nexec /bin/sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Long enough to read the signatures from the registry first.
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := verify.New(e.client, keyPolicy(t, key), verify.WithChecker(verify.Helper(stuck))).Check(c, e.ref, e.ref, e.digest())
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errdefs.ErrUntrusted) || !strings.Contains(err.Error(), "imagec-sigstore: context deadline exceeded") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %v: the helper was not killed", took)
	}
}

// Of each form, 4 MiB of signatures at most are read for an image (and 32
// signatures): what a registry lists past it is left out, and the helper's
// request stays bounded.
func TestSignatureBudget(t *testing.T) {
	t.Parallel()
	key, other := mustKey(t), mustKey(t)
	e := newEnv(t, fixtures.OCI)
	good := signtest.Payload(e.repo, e.digest())
	goodAnn, _ := key.SignPayload(good)
	push := func(junk int) {
		var payloads [][]byte
		var anns []map[string]string
		for i := range junk {
			// 1 MiB with its signature annotation (92 or 96 bytes of
			// base64), less 10 to 14 bytes: four leave too little for
			// another signature.
			p := bytes.Repeat([]byte{byte('a' + i)}, 1<<20-96-10)
			a, _ := other.SignPayload(p)
			payloads, anns = append(payloads, p), append(anns, a)
		}
		e.pushLegacy(t, append(payloads, good), append(anns, goodAnn))
	}
	p, err := verify.ParsePolicy([]byte(`{"default":[{"type":"sigstoreSigned","keyData":"`+base64.StdEncoding.EncodeToString(key.PublicPEM())+`","signedIdentity":{"type":"matchRepository"}}]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	push(3)
	if got := check(t, e, p); got != "" {
		t.Fatalf("within the budget: %s", got)
	}
	push(4)
	if got := check(t, e, p); !strings.Contains(got, "wrong key") {
		t.Fatalf("past the budget: %q", got)
	}
}
