package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/keyless"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// signSample signs SampleOCI with a new key, in cosign's legacy form, and
// attaches an SBOM; it returns the key file.
func signSample(t *testing.T, reg *testregistry.Registry) (pub string, ref reference.Reference) {
	t.Helper()
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ref = reference.MustParse(reg.Host + "/" + testregistry.SampleOCI)
	desc, err := c.Resolve(context.Background(), ref, manifest.Accept)
	if err != nil {
		t.Fatal(err)
	}
	key, err := signtest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	payload := signtest.Payload(ref.Name(), desc.Digest)
	ann, err := key.SignPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signtest.LegacyManifest([][]byte{payload}, []map[string]string{ann})
	if err != nil {
		t.Fatal(err)
	}
	repo := strings.TrimPrefix(ref.Name(), reg.Host+"/")
	if err := reg.PushArtifact(context.Background(), repo, signtest.LegacyTag(desc.Digest), sig); err != nil {
		t.Fatal(err)
	}
	sbom, err := signtest.NewArtifact("application/spdx+json", []signtest.Blob{signtest.NewBlob("application/spdx+json", []byte("{}"), nil)}, &desc, map[string]string{"org.example.note": "line\x1b[31m"})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.PushArtifact(context.Background(), repo, "", sbom); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.PutReferrer(context.Background(), ref, sbom.Desc.MediaType, sbom.Manifest); err != nil {
		t.Fatal(err)
	}
	pub = filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(pub, key.PublicPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return pub, ref
}

func TestReferrersCommand(t *testing.T) {
	t.Parallel()
	reg, _, env := seeded(t)
	_, ref := signSample(t, reg)
	out := mustRun(t, env, "referrers", ref.String())
	if !strings.Contains(out, "application/spdx+json") || !strings.Contains(out, `org.example.note=line\x1b[31m`) || strings.Contains(out, "\x1b") {
		t.Fatalf("table (annotations escaped):\n%q", out)
	}
	var doc struct {
		TagSchema bool
		Manifests []struct{ ArtifactType string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "referrers", "--format", "json", ref.String())), &doc); err != nil || !doc.TagSchema || len(doc.Manifests) != 1 {
		t.Fatalf("json: %+v (%v)", doc, err)
	}
	if out := mustRun(t, env, "referrers", "--artifact-type", "application/other", ref.String()); strings.Count(out, "\n") != 1 {
		t.Fatalf("filtered table:\n%s", out)
	}
}

// pull refuses what the policy refuses, in one line, naming nothing; verify
// checks without pulling; a configuration can ask for verification.
func TestPullVerifyCommand(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	pub, ref := signSample(t, reg)
	hello := reg.Host + "/" + testregistry.SampleHello

	res := run(t, env, "--root", root, "pull", "--verify-key", pub, hello)
	if res.Code == 0 || !strings.Contains(res.Stderr, "no signature for sha256:") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Fatalf("unsigned pull: exit %d\n%s", res.Code, res.Stderr)
	}
	if out := mustRun(t, env, "--root", root, "images"); strings.Contains(out, "samples/hello") {
		t.Fatalf("a refused image is named:\n%s", out)
	}
	mustRun(t, env, "--root", root, "pull", "--verify-key", pub, "--referrers", ref.String())
	if out := mustRun(t, env, "verify", "--verify-key", pub, ref.String()); !strings.Contains(out, "Verified "+ref.Name()+"@sha256:") {
		t.Fatalf("verify:\n%s", out)
	}
	if res := run(t, env, "verify", "--verify-key", pub, hello); res.Code == 0 {
		t.Fatal("verify accepted an unsigned image")
	}

	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(`{"default":[{"type":"reject"}],"transports":{"docker":{"`+ref.Name()+`":[{"type":"sigstoreSigned","keyPath":"`+pub+`","signedIdentity":{"type":"matchRepository"}}]}}}`), 0o600)
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"verify": true, "policy": "policy.json"}`), 0o600)
	mustRun(t, env, "--root", root, "--config", cfg, "pull", ref.String())
	res = run(t, env, "--root", root, "--config", cfg, "pull", hello)
	if res.Code == 0 || !strings.Contains(res.Stderr, "rejects") {
		t.Fatalf("configured policy, default scope: exit %d\n%s", res.Code, res.Stderr)
	}
}

// Keyless from the command line: the certificate identity, its issuer and
// a trusted root file, nothing fetched.
func TestVerifyKeylessCommand(t *testing.T) {
	t.Parallel()
	reg, _, env := seeded(t)
	ss, err := keyless.New()
	if err != nil {
		t.Fatal(err)
	}
	rootJSON, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	trusted := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(trusted, rootJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ref := reference.MustParse(reg.Host + "/" + testregistry.SampleZstd)
	desc, err := c.Resolve(context.Background(), ref, manifest.Accept)
	if err != nil {
		t.Fatal(err)
	}
	payload := signtest.Payload(ref.Name(), desc.Digest)
	ann, err := ss.SignPayload("dev@example.com", "https://issuer.example", payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signtest.LegacyManifest([][]byte{payload}, []map[string]string{ann})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.PushArtifact(context.Background(), strings.TrimPrefix(ref.Name(), reg.Host+"/"), signtest.LegacyTag(desc.Digest), sig); err != nil {
		t.Fatal(err)
	}
	args := []string{"verify", "--trusted-root", trusted, "--certificate-oidc-issuer", "https://issuer.example", ref.String()}
	if out := mustRun(t, env, append([]string{"--certificate-identity", "dev@example.com"}, args...)...); !strings.Contains(out, "Verified") {
		t.Fatalf("keyless verify:\n%s", out)
	}
	if res := run(t, env, append([]string{"--certificate-identity", "eve@example.com"}, args...)...); res.Code == 0 || !strings.Contains(res.Stderr, "wrong identity") {
		t.Fatalf("another identity: exit %d\n%s", res.Code, res.Stderr)
	}
	if res := run(t, env, "verify", "--certificate-identity", "dev@example.com", ref.String()); res.Code == 0 || !strings.Contains(res.Stderr, "--trusted-root") {
		t.Fatalf("no trusted root: exit %d\n%s", res.Code, res.Stderr)
	}
}

// imagec checks signatures with imagec-sigstore, found next to it, else on
// PATH. Without it, verify and a verifying pull refuse in one line naming
// it, and the pull names nothing and fetches no layer; commands that do
// not verify do not need it.
func TestVerifyNeedsHelperCommand(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	pub, ref := signSample(t, reg)
	alone := clitest.Alone(t)
	env = append(env, "PATH="+t.TempDir())
	want := "imagec: pull " + ref.String() + ": signature verification needs imagec-sigstore next to imagec or on PATH: no " + filepath.Join(filepath.Dir(alone), "imagec-sigstore") + ", and none on PATH\n"
	res := clitest.RunBinary(t, alone, env, "", "--root", root, "pull", "--verify-key", pub, ref.String())
	if res.Code != 1 || !strings.HasSuffix(res.Stderr, want) || strings.Count(res.Stderr, "imagec:") != 1 {
		t.Fatalf("pull without the helper: exit %d\n%s\nwant the line %q", res.Code, res.Stderr, want)
	}
	if out := clitest.RunBinary(t, alone, env, "", "--root", root, "images").Stdout; strings.Contains(out, "samples/oci") {
		t.Fatalf("named without verification:\n%s", out)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256")); len(ents) != 0 {
		t.Fatalf("%d blobs stored by a refused pull", len(ents))
	}
	res = clitest.RunBinary(t, alone, env, "", "verify", "--verify-key", pub, ref.String())
	if res.Code != 1 || !strings.Contains(res.Stderr, "imagec: verify "+ref.String()+": signature verification needs imagec-sigstore next to imagec or on PATH") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Fatalf("verify without the helper: exit %d\n%s", res.Code, res.Stderr)
	}
	if res := clitest.RunBinary(t, alone, env, "", "--root", root, "pull", ref.String()); res.Code != 0 {
		t.Fatalf("pull without verification: exit %d\n%s", res.Code, res.Stderr)
	}
	// On PATH.
	env = append(env, "PATH="+filepath.Dir(clitest.Helper(t)))
	if res := clitest.RunBinary(t, alone, env, "", "verify", "--verify-key", pub, ref.String()); res.Code != 0 || !strings.Contains(res.Stdout, "Verified") {
		t.Fatalf("verify with the helper on PATH: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
}

// The README's example as a new user runs it: the sample registry's
// --sign-dir (a directory that does not exist yet) signs samples/oci in
// both of cosign's forms and writes the key and a policy; referrers lists
// the bundle and the SBOM, verify and pull --policy accept samples/oci and
// refuse samples/hello.
func TestSampleRegistrySignDir(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	dir := filepath.Join(t.TempDir(), "signed")
	pub, policy, err := testregistry.SeedSigned(context.Background(), reg, dir)
	if err != nil {
		t.Fatal(err)
	}
	oci, hello := reg.Host+"/"+testregistry.SampleOCI, reg.Host+"/"+testregistry.SampleHello
	if out := mustRun(t, env, "referrers", oci); !strings.Contains(out, "application/vnd.dev.sigstore.bundle.v0.3+json") || !strings.Contains(out, testregistry.SampleSBOMType) {
		t.Fatalf("referrers:\n%s", out)
	}
	if out := mustRun(t, env, "verify", "--verify-key", pub, oci); !strings.Contains(out, "Verified ") {
		t.Fatalf("verify:\n%s", out)
	}
	if res := run(t, env, "verify", "--verify-key", pub, hello); res.Code == 0 || !strings.Contains(res.Stderr, "no signature for sha256:") {
		t.Fatalf("verify of an unsigned image: exit %d\n%s", res.Code, res.Stderr)
	}
	if out := mustRun(t, env, "--root", root, "pull", "--progress", "plain", "--policy", policy, "--referrers", oci); !strings.Contains(out, "Referrer sha256:") {
		t.Fatalf("pull --referrers:\n%s", out)
	}
	if res := run(t, env, "--root", root, "pull", "--policy", policy, hello); res.Code == 0 || !strings.Contains(res.Stderr, "rejects every image here") {
		t.Fatalf("pull refused by the policy's default: exit %d\n%s", res.Code, res.Stderr)
	}
}
