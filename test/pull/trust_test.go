package pull_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/storetest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
)

// These tests tamper with the store the way another program writing to it
// could (index.json, blobs) and check that a pull trusts only what imagec
// verified by digest.

// attacker pulls another image into e's store under a throwaway name and
// returns its index.json entry, ready to be put under a name it is not.
func attacker(t *testing.T, e *env, f fixtures.Format) (ocispec.Descriptor, *fixtures.Image) {
	t.Helper()
	ctx := context.Background()
	evil := newImage(t, 666, f, fixtures.Gzip)
	push(t, e, "evil/img", "latest", evil)
	ref := e.ref(t, "evil/img")
	if _, err := e.puller.Pull(ctx, ref); err != nil {
		t.Fatal(err)
	}
	entry, err := e.store.Image(ctx, ref.String())
	if err != nil {
		t.Fatal(err)
	}
	delete(entry.Annotations, ocispec.AnnotationRefName)
	return entry, evil
}

// assertPulledReal checks that after a pull the name leads to the real image.
func assertPulledReal(t *testing.T, e *env, ref reference.Reference, real *fixtures.Image, res *pull.Result) {
	t.Helper()
	if res.UpToDate {
		t.Error("the pull called the forged content up to date")
	}
	if res.ImageID != real.ConfigDesc.Digest {
		t.Errorf("pulled image ID %s, want the real %s", res.ImageID, real.ConfigDesc.Digest)
	}
	checkStored(t, e, ref, real)
}

// Item 1: a name pinned to the real image's digest that points at other
// content is neither served nor called up to date.
func TestForgedDigestNameIsRepulled(t *testing.T) {
	t.Parallel()
	for _, f := range []fixtures.Format{fixtures.OCI, fixtures.Docker} {
		t.Run(formatName(f), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t, nil)
			real := newImage(t, 1, f, fixtures.Gzip)
			push(t, e, "good/img", "v1", real)
			forged, _ := attacker(t, e, f)
			ref := e.ref(t, "good/img@"+real.ManifestDesc.Digest.String())
			// The store refuses such a name; another program writes it.
			if err := e.store.SetImage(ctx, ref.String(), forged); !errors.Is(err, errdefs.ErrDigestMismatch) {
				t.Fatalf("SetImage of a name pinning other content = %v, want digest mismatch", err)
			}
			storetest.ForgeName(t, e.store.Root(), ref.String(), forged)
			entry, _ := e.store.Image(ctx, ref.String())
			if _, err := image.Load(ctx, e.store, entry, nil); !errors.Is(err, errdefs.ErrDigestMismatch) {
				t.Fatalf("Load of a name pinning other content = %v, want digest mismatch", err)
			}
			res, err := e.puller.Pull(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			assertPulledReal(t, e, ref, real, res)
		})
	}
}

func formatName(f fixtures.Format) string {
	if f == fixtures.OCI {
		return "oci"
	}
	return "docker"
}

// Item 2: imagec's own source-digest annotation, copied onto other
// content, does not make a tag look up to date.
func TestForgedSourceAnnotationIsRepulled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	real := newImage(t, 2, fixtures.Docker, fixtures.Gzip)
	push(t, e, "good/img", "v1", real)
	forged, _ := attacker(t, e, fixtures.Docker)
	forged.Annotations = map[string]string{graph.AnnotationSourceDigest: real.ManifestDesc.Digest.String()}
	ref := e.ref(t, "good/img:v1")
	storetest.ForgeName(t, e.store.Root(), ref.String(), forged)
	entry, _ := e.store.Image(ctx, ref.String())
	img, err := image.Load(ctx, e.store, entry, nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.RepoDigest() == real.ManifestDesc.Digest {
		t.Fatal("the annotation decided the repo digest")
	}
	res, err := e.puller.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	assertPulledReal(t, e, ref, real, res)
}

// Item 2, harder: a wrapper index whose own content names the real
// manifest as its source, with the real manifest present in the store,
// but lists the attacker's manifest.
func TestForgedWrapperSourceIsRepulled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	real := newImage(t, 3, fixtures.Docker, fixtures.Gzip)
	push(t, e, "good/img", "v1", real)
	_, evil := attacker(t, e, fixtures.Docker)
	if err := e.store.WriteBlob(ctx, real.ManifestDesc, real.Manifest); err != nil {
		t.Fatal(err)
	}
	body, entry, err := graph.WrapIndex(real.ManifestDesc.Digest, []ocispec.Descriptor{evil.ManifestDesc})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.WriteBlob(ctx, entry, body); err != nil {
		t.Fatal(err)
	}
	ref := e.ref(t, "good/img:v1")
	storetest.ForgeName(t, e.store.Root(), ref.String(), entry)
	res, err := e.puller.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	assertPulledReal(t, e, ref, real, res)
}

// Items 10 and 23: a layer blob cut short, or deleted, is not "up to date":
// the re-pull fetches exactly that blob again.
func TestDamagedLayerIsFetchedAgain(t *testing.T) {
	t.Parallel()
	for _, damage := range []string{"truncate", "delete", "symlink"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t, nil)
			img := newImage(t, 4, fixtures.Docker, fixtures.Gzip)
			push(t, e, "test/damaged", "latest", img)
			ref := e.ref(t, "test/damaged")
			if _, err := e.puller.Pull(ctx, ref); err != nil {
				t.Fatal(err)
			}
			p := e.store.Path(img.Layers[1].Digest)
			switch damage {
			case "truncate":
				os.Chmod(p, 0o644)
				if err := os.Truncate(p, img.Layers[1].Size/2); err != nil {
					t.Fatal(err)
				}
			case "delete":
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			case "symlink":
				// Same size, other content, outside the store.
				other := t.TempDir() + "/other"
				if err := os.WriteFile(other, make([]byte, img.Layers[1].Size), 0o600); err != nil {
					t.Fatal(err)
				}
				os.Remove(p)
				if err := os.Symlink(other, p); err != nil {
					t.Fatal(err)
				}
			}
			e.reg.ResetRequests()
			res, err := e.puller.Pull(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if res.UpToDate || res.Fetched != 1 {
				t.Errorf("re-pull: %+v, want exactly the damaged layer fetched", res)
			}
			if n := e.reg.BlobGets(); n != 1 {
				t.Errorf("re-pull made %d blob GETs, want 1", n)
			}
			checkStored(t, e, ref, img)
			if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() || fi.Size() != img.Layers[1].Size {
				t.Errorf("the layer blob is %v (%v), want a regular file of %d bytes", fi.Mode(), err, img.Layers[1].Size)
			}
		})
	}
}

// Item 11: a tag that names one manifest has no platform to choose, so a
// re-pull is up to date after one HEAD whatever platform its config
// declares (none, or another than the host's); docker warns when it is
// not the host's.
func TestSingleManifestOfOtherPlatformIsUpToDate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		platform ocispec.Platform
		format   fixtures.Format
		warn     bool
	}{
		{"platformless docker", ocispec.Platform{}, fixtures.Docker, false},
		{"platformless oci", ocispec.Platform{}, fixtures.OCI, false},
		{"arm64 docker", ocispec.Platform{OS: "linux", Architecture: "arm64"}, fixtures.Docker, true},
		{"arm64 oci", ocispec.Platform{OS: "linux", Architecture: "arm64"}, fixtures.OCI, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t, nil)
			img, err := fixtures.NewImage(5, 2, 16<<10, tc.format, fixtures.Gzip, tc.platform)
			if err != nil {
				t.Fatal(err)
			}
			push(t, e, "test/single", "latest", img)
			ref := e.ref(t, "test/single")
			for i := range 2 {
				e.reg.ResetRequests()
				rec := &progress.Recorder{}
				res, err := e.puller.Pull(ctx, ref, pull.WithPlatform(linuxAMD64), pull.WithProgress(rec))
				if err != nil {
					t.Fatal(err)
				}
				if got := hasStatus(rec, "WARNING: "); got != tc.warn {
					t.Errorf("pull %d: warning printed = %v, want %v", i+1, got, tc.warn)
				}
				if i == 0 {
					continue
				}
				if !res.UpToDate {
					t.Errorf("re-pull: %+v, want up to date", res)
				}
				for _, r := range e.reg.Requests() {
					if r.Method != http.MethodHead && r.Path != "/v2/" {
						t.Errorf("re-pull sent %s %s; want one HEAD", r.Method, r.Path)
					}
				}
			}
		})
	}
}

func hasStatus(rec *progress.Recorder, prefix string) bool {
	for _, ev := range rec.Events() {
		if ev.Action == progress.Status && strings.HasPrefix(ev.Message, prefix) {
			return true
		}
	}
	return false
}

// Item 19: an index child without a platform is only taken if its config
// says it runs here.
func TestPlatformlessIndexChildOfOtherPlatformIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	arm, err := fixtures.NewImage(6, 1, 8<<10, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	idx := platformlessIndex(t, arm)
	if err := e.reg.PushIndex(ctx, "test/noplat", "latest", idx); err != nil {
		t.Fatal(err)
	}
	_, err = e.puller.Pull(ctx, e.ref(t, "test/noplat"), pull.WithPlatform(linuxAMD64))
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Fatalf("pull of an arm64 image behind a platformless index entry on amd64 = %v, want not found naming linux/arm64", err)
	}
	if imgs, err := e.store.Images(ctx); err != nil || len(imgs) != 0 {
		t.Errorf("a name was recorded: %+v", imgs)
	}
	// The same child is what an arm64 pull wants.
	if _, err := e.puller.Pull(ctx, e.ref(t, "test/noplat"), pull.WithPlatform(ocispec.Platform{OS: "linux", Architecture: "arm64"})); err != nil {
		t.Fatal(err)
	}
}

// platformlessIndex is an OCI index listing imgs without their platforms.
func platformlessIndex(t *testing.T, imgs ...*fixtures.Image) *fixtures.Index {
	t.Helper()
	body := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	body.SchemaVersion = 2
	for _, img := range imgs {
		d := img.ManifestDesc
		d.Platform = nil
		body.Manifests = append(body.Manifests, d)
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return &fixtures.Index{MediaType: body.MediaType, Images: imgs, Body: b,
		Desc: ocispec.Descriptor{MediaType: body.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}}
}
