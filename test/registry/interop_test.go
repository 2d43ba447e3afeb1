package registry_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// What the client pushes (layers in chunks, the manifest's exact bytes)
// reads back in independent clients: crane validates every blob against
// its digest, skopeo reads the manifest with the digest it was pushed as.
func TestPushedImageReadByCraneAndSkopeo(t *testing.T) {
	t.Parallel()
	crane, skopeo := testtool.Require(t, "crane"), testtool.Require(t, "skopeo")
	reg := testregistry.Start(t)
	c := newTestClient(t)
	// gzip: crane validate reads every layer as gzip.
	img, err := fixtures.NewImage(51, 3, 200<<10, fixtures.Docker, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	name := reg.Host + "/interop/app:v1"
	pushImage(t, c, regRef(t, reg, "interop/app:v1"), img, registry.ChunkThreshold(0), registry.ChunkSize(64<<10))

	if out, err := exec.Command(crane, "validate", "--insecure", "--remote", name).CombinedOutput(); err != nil {
		t.Fatalf("crane validate: %v\n%s", err, out)
	}
	out, err := exec.Command(crane, "digest", "--insecure", name).Output()
	if err != nil || strings.TrimSpace(string(out)) != img.ManifestDesc.Digest.String() {
		t.Fatalf("crane digest = %q, %v; want %s", out, err, img.ManifestDesc.Digest)
	}
	raw, err := exec.Command(skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+name).Output()
	if err != nil || digest.FromBytes(raw) != img.ManifestDesc.Digest {
		t.Fatalf("skopeo inspect --raw: %v, digest %s, want %s", err, digest.FromBytes(raw), img.ManifestDesc.Digest)
	}
}
