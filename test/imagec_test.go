package imagec_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// The client pulls with the configuration's mirrors, finds images by name
// and ID prefix, and collects what a removed name leaves.
func TestClientPullsLikeTheCLI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	upstream := testregistry.Start(t)
	mirror := testregistry.Start(t)
	if _, err := testregistry.SeedSamples(ctx, mirror); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	cfg := `{"registries":{"` + upstream.Host + `":{"mirrors":["` + mirror.Host + `"]}}}`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := imagec.Open(imagec.WithRoot(t.TempDir()), imagec.WithConfigFile(cfgPath),
		imagec.WithDockerConfig(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The upstream has nothing: the image can only come from the mirror.
	ref := reference.MustParse(upstream.Host + "/" + testregistry.SampleHello)
	res, err := c.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := c.Find(ctx, res.ImageID.Encoded()[:8])
	if err != nil || len(imgs) != 1 || imgs[0].Name != ref.String() {
		t.Fatalf("Find by ID prefix: %v, %v", imgs, err)
	}
	if err := c.Store().RemoveImage(ctx, ref.String()); err != nil {
		t.Fatal(err)
	}
	rep, err := c.GC(ctx, gc.WithDryRun(true))
	if err != nil || rep.Blobs == 0 {
		t.Fatalf("GC dry run: %+v, %v", rep, err)
	}
}
