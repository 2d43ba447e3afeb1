// Package schema1e2e pulls legacy signed schema 1 images from a registry
// that really serves them (Distribution 2.8). It is its own test binary so
// that Distribution 2.8 and v3 are never linked together.
package schema1e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/push"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry/schema1reg"
)

func TestPullSignedSchema1(t *testing.T) {
	ctx := context.Background()
	reg := schema1reg.Start(t)
	canonical, blobs, diffIDs, err := reg.PushSchema1(ctx, "legacy/app", "v1", 42)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	st, err := local.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	puller := pull.New(client, st)
	ref := reference.MustParse(reg.Host + "/legacy/app:v1")

	res, err := puller.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != canonical {
		t.Fatalf("digest %s, want the schema 1 canonical digest %s", res.Digest, canonical)
	}

	entry, err := st.Image(ctx, ref.String())
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Load(ctx, st, entry, nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.RepoDigest() != canonical {
		t.Fatalf("repo digest %s, want %s", img.RepoDigest(), canonical)
	}
	if img.ID() != digest.FromBytes(img.ConfigRaw) || img.ID() != res.ImageID {
		t.Fatalf("image ID %s is not the config digest %s", img.ID(), digest.FromBytes(img.ConfigRaw))
	}
	if got := img.Config.RootFS.DiffIDs; !equal(got, diffIDs) {
		t.Fatalf("diffIDs %v, want %v", got, diffIDs)
	}
	var layerDigests []digest.Digest
	for _, l := range img.Manifest.Layers {
		layerDigests = append(layerDigests, l.Digest)
	}
	if !equal(layerDigests, blobs) {
		t.Fatalf("layers %v, want %v (the throwaway layer skipped)", layerDigests, blobs)
	}
	empty := 0
	for _, h := range img.Config.History {
		if h.EmptyLayer {
			empty++
		}
	}
	if empty == 0 || len(img.Config.History) != len(blobs)+empty {
		t.Fatalf("history %+v: want the throwaway entry marked empty_layer", img.Config.History)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(img.ConfigRaw, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "parent", "Size", "parent_id", "layer_id", "throwaway"} {
		if _, ok := raw[k]; ok {
			t.Fatalf("config keeps the v1 key %q", k)
		}
	}

	// Nothing of a schema 1 image is garbage, the signed original included.
	if rep, err := gc.Collect(ctx, st); err != nil || rep.Blobs != 0 {
		t.Fatalf("gc of a named schema 1 image: %+v %v", rep, err)
	}

	again, err := puller.Pull(ctx, ref)
	if err != nil || !again.UpToDate || again.Fetched != 0 {
		t.Fatalf("second pull: %+v %v", again, err)
	}

	byDigest, err := pull.New(client, st).Pull(ctx, ref.WithDigest(canonical))
	if err != nil || byDigest.ImageID != res.ImageID {
		t.Fatalf("pull by digest: %+v %v", byDigest, err)
	}

	t.Run("skopeo reads the store", func(t *testing.T) {
		testtool.Require(t, "skopeo")
		out, err := exec.Command("skopeo", "inspect", "oci:"+root+":"+ref.String()).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect: %v\n%s", err, out)
		}
		var info struct{ Layers []digest.Digest }
		if err := json.Unmarshal(out, &info); err != nil || !equal(info.Layers, blobs) {
			t.Fatalf("skopeo sees %s", out)
		}
	})
}

// A registry that answers a pull by digest with other content (here another
// valid, signed schema 1 image of the same repository, with its own correct
// Docker-Content-Digest) is refused by the digest check, not by a 404: a
// proxy rewrites the by-digest request to the other image's tag.
func TestSchema1ByWrongDigestIsRefused(t *testing.T) {
	ctx := context.Background()
	reg := schema1reg.Start(t)
	asked, _, _, err := reg.PushSchema1(ctx, "legacy/app", "v1", 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := reg.PushSchema1(ctx, "legacy/app", "other", 8); err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, reg.URL)
	var rewritten atomic.Int32
	proxy.Inject(&faultproxy.Fault{
		Kind:  faultproxy.Manifest,
		Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/manifests/"+asked.String()) },
		Rewrite: func(r *http.Request) {
			rewritten.Add(1)
			r.URL.Path = strings.TrimSuffix(r.URL.Path, asked.String()) + "other"
			r.URL.RawPath = ""
		},
	})
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ref := reference.MustParse(proxy.Host + "/legacy/app@" + asked.String())
	_, err = pull.New(client, st).Pull(ctx, ref)
	if !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("pull of %s answered with other content: %v, want a digest mismatch", ref, err)
	}
	if rewritten.Load() == 0 {
		t.Fatal("the by-digest request never reached the proxy's rewrite")
	}
	if imgs, err := st.Images(ctx); err != nil || len(imgs) != 0 {
		t.Fatalf("store records %v", imgs)
	}
}

func equal(a, b []digest.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A pulled schema 1 image is pushed as the schema 2 image imagec converted
// it to, which every registry accepts (Distribution 3 and Docker Hub refuse
// schema 1), under that image's digest, and pulls back with the same image
// ID. (The destination is a second Distribution 2.8: version 3 cannot live
// in the same test binary, both register the same HTTP handlers.)
func TestPushSchema1SendsTheConversion(t *testing.T) {
	ctx := context.Background()
	reg := schema1reg.Start(t)
	if _, _, _, err := reg.PushSchema1(ctx, "legacy/app", "v1", 43); err != nil {
		t.Fatal(err)
	}
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ref := reference.MustParse(reg.Host + "/legacy/app:v1")
	pulled, err := pull.New(client, st).Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	dst := schema1reg.Start(t)
	dest := reference.MustParse(dst.Host + "/modern/app:v1")
	rec := &progress.Recorder{}
	res, err := push.New(client).Push(ctx, st, ref.String(), dest, push.WithProgress(rec))
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest != pulled.Manifest.Digest || res.Desc.MediaType != manifest.MediaTypeDockerManifest {
		t.Fatalf("pushed %s %s, want the converted manifest %s", res.Desc.MediaType, res.Desc.Digest, pulled.Manifest.Digest)
	}
	noted := false
	for _, ev := range rec.Events() {
		noted = noted || strings.HasPrefix(ev.Message, "Schema 1 image: pushing the schema 2 image")
	}
	if !noted {
		t.Error("the push did not say it sent the conversion")
	}
	back, err := pull.New(client, st).Pull(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	if back.ImageID != pulled.ImageID {
		t.Fatalf("image ID %s after the round trip, want %s", back.ImageID, pulled.ImageID)
	}
}
