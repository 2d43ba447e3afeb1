package cli_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// The real cosign signs, with a key and without a transparency log, in
// both its forms (the legacy .sig tag, and --new-bundle-format's bundle
// referrer, listed under the tag schema since Distribution has no
// referrers API); imagec verifies both and pulls with them. cosign is
// optional, in CI too: .ci/run does not install it (go install of
// cosign@v2.6.5 takes about three minutes here), so this test runs where a
// developer has it on PATH.
func TestCosignInterop(t *testing.T) {
	t.Parallel()
	cosign := testtool.Optional(t, "cosign")
	reg, root, env := seeded(t)
	dir := t.TempDir()
	cosEnv := append(os.Environ(), "COSIGN_PASSWORD=", "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"))
	runCosign := func(args ...string) {
		t.Helper()
		cmd := exec.Command(cosign, args...)
		cmd.Dir, cmd.Env = dir, cosEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	runCosign("generate-key-pair")
	pub := filepath.Join(dir, "cosign.pub")
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		sample string
		flags  []string
	}{
		{testregistry.SampleOCI, nil},
		{testregistry.SampleHello, []string{"--new-bundle-format"}}, // a Docker-typed image
	} {
		ref := reference.MustParse(reg.Host + "/" + tt.sample)
		desc, err := c.Resolve(context.Background(), ref, manifest.Accept)
		if err != nil {
			t.Fatal(err)
		}
		pinned := ref.WithDigest(desc.Digest).String()
		if res := run(t, env, "verify", "--verify-key", pub, ref.String()); res.Code == 0 {
			t.Fatalf("%s verified before cosign signed it", ref)
		}
		runCosign(append([]string{"sign", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--allow-insecure-registry"}, append(tt.flags, pinned)...)...)
		if out := mustRun(t, env, "verify", "--verify-key", pub, ref.String()); !strings.Contains(out, "Verified "+pinned) {
			t.Fatalf("verify %s:\n%s", ref, out)
		}
		mustRun(t, env, "--root", root, "pull", "--verify-key", pub, ref.String())
	}
}
