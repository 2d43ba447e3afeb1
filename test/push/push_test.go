package push_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/push"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
	"github.com/imagec/imagec/test/internal/testregistry"
)

var ctx = context.Background()

type env struct {
	src, dst *testregistry.Registry
	digests  map[string]string // sample name at src -> its digest
	st       *local.Store
	client   *registry.Client
	pusher   *push.Pusher
}

func newEnv(t *testing.T, dstOpts ...testregistry.Option) *env {
	t.Helper()
	e := &env{src: testregistry.Start(t), dst: testregistry.Start(t, dstOpts...), digests: map[string]string{}}
	seeded, err := testregistry.SeedSamples(ctx, e.src)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range seeded {
		e.digests[name] = d.String()
	}
	if e.st, err = local.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if e.client, err = registry.New(); err != nil {
		t.Fatal(err)
	}
	e.pusher = push.New(e.client, push.WithUploadOptions(registry.ChunkThreshold(64<<10), registry.ChunkSize(64<<10)))
	return e
}

func ref(t *testing.T, s string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) pull(t *testing.T, name string, opts ...pull.PullOption) reference.Reference {
	t.Helper()
	r := ref(t, e.src.Host+"/"+name)
	if _, err := pull.New(e.client, e.st).Pull(ctx, r, opts...); err != nil {
		t.Fatal(err)
	}
	return r
}

// digestAt asks reg for the digest of repo:tag.
func (e *env) digestAt(t *testing.T, reg *testregistry.Registry, repoTag string) string {
	t.Helper()
	d, err := e.client.Resolve(ctx, ref(t, reg.Host+"/"+repoTag), manifest.Accept)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest.String()
}

func uploads(reg *testregistry.Registry) (puts, patches, mounts int) {
	for _, r := range reg.Requests() {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.Query, "mount="):
			mounts++
		case r.Method == http.MethodPatch:
			patches++
		case r.Method == http.MethodPut && strings.Contains(r.Path, "/blobs/uploads/"):
			puts++
		}
	}
	return
}

// What was pulled is pushed byte for byte: the destination serves it under
// the digest it was pulled under, whatever the format.
func TestPushKeepsTheDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, s := range []string{testregistry.SampleHello, testregistry.SampleOCI, testregistry.SampleZstd, testregistry.SampleForeign} {
		r := e.pull(t, s)
		dest := ref(t, e.dst.Host+"/copied/"+strings.Replace(s, "samples/", "", 1))
		res, err := e.pusher.Push(ctx, e.st, r.String(), dest)
		if err != nil {
			t.Fatalf("push %s: %v", s, err)
		}
		want := e.digests[e.src.Host+"/"+s]
		if res.Desc.Digest.String() != want {
			t.Errorf("%s: pushed %s, pulled %s", s, res.Desc.Digest, want)
		}
		if got := e.digestAt(t, e.dst, dest.Path()+":latest"); got != want {
			t.Errorf("%s: the destination serves %s, want %s", s, got, want)
		}
	}
}

// A second push sends no blob; a push to another repository of the same
// registry mounts every blob instead of uploading it.
func TestPushSendsOnlyWhatIsMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.pull(t, testregistry.SampleHello)
	dest := ref(t, e.dst.Host+"/a/hello:v1")
	rec := &progress.Recorder{}
	first, err := e.pusher.Push(ctx, e.st, r.String(), dest, push.WithProgress(rec))
	if err != nil {
		t.Fatal(err)
	}
	if first.Uploaded != 4 || first.Existing != 0 {
		t.Fatalf("first push: %+v, want the config and 3 layers uploaded", first)
	}
	if !hasStatus(rec, "v1: digest: "+first.Desc.Digest.String()) || !hasAction(rec, progress.Pushed) {
		t.Errorf("progress lacks docker's lines: %+v", rec.Events())
	}
	e.dst.ResetRequests()
	again, err := e.pusher.Push(ctx, e.st, r.String(), dest)
	if err != nil {
		t.Fatal(err)
	}
	if puts, patches, _ := uploads(e.dst); again.Uploaded != 0 || again.Existing != 4 || puts+patches != 0 {
		t.Fatalf("second push: %+v, %d PUT, %d PATCH; want nothing sent", again, puts, patches)
	}
	// Copy within the registry: mounted, not sent.
	e.dst.ResetRequests()
	moved, err := e.pusher.Copy(ctx, dest, ref(t, e.dst.Host+"/b/hello:v1"))
	if err != nil {
		t.Fatal(err)
	}
	puts, patches, mounts := uploads(e.dst)
	if moved.Mounted != 4 || mounts != 4 || puts+patches != 0 {
		t.Fatalf("copy to another repository: %+v, %d mounts, %d PUT, %d PATCH; want 4 mounts and nothing sent", moved, mounts, puts, patches)
	}
	if moved.Desc.Digest != first.Desc.Digest {
		t.Fatalf("copy changed the digest: %s, want %s", moved.Desc.Digest, first.Desc.Digest)
	}
}

// An index is pushed whole or, with a platform, as that platform's
// manifest; a store holding one platform of it refuses the whole before
// sending anything.
func TestPushIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	r := e.pull(t, testregistry.SampleMulti, pull.WithPlatform(amd64))
	_, err := e.pusher.Push(ctx, e.st, r.String(), ref(t, e.dst.Host+"/multi:all"))
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "--platform") {
		t.Fatalf("push of an index with platforms missing = %v, want not found naming --platform", err)
	}
	if puts, patches, mounts := uploads(e.dst); puts+patches+mounts != 0 {
		t.Fatalf("the refused push sent %d requests", puts+patches+mounts)
	}
	res, err := e.pusher.Push(ctx, e.st, r.String(), ref(t, e.dst.Host+"/multi:amd64"), push.WithPlatform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := testregistry.SampleMultiIndex()
	if err != nil {
		t.Fatal(err)
	}
	if res.Desc.Digest != idx.Images[0].ManifestDesc.Digest {
		t.Fatalf("pushed %s, want the amd64 manifest %s", res.Desc.Digest, idx.Images[0].ManifestDesc.Digest)
	}
	// Registry to registry, the whole index (attestations included).
	copied, err := e.pusher.Copy(ctx, r, ref(t, e.dst.Host+"/multi:copied"))
	if err != nil {
		t.Fatal(err)
	}
	if want := e.digests[r.Domain()+"/"+testregistry.SampleMulti]; copied.Desc.Digest.String() != want || e.digestAt(t, e.dst, "multi:copied") != want {
		t.Fatalf("copied index %s, want %s", copied.Desc.Digest, want)
	}
}

// Rights are the registry's: a push to a repository the user may only pull
// is one clear denied error.
func TestPushDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testregistry.WithTokenAuth("admin", "secret"),
		testregistry.WithTokenUser("alice", "pw", map[string][]string{"ro/img": {"pull"}, "rw/img": {"pull", "push"}}))
	client, err := registry.New(registry.WithCredentials(func(context.Context, string) (auth.Credential, error) {
		return auth.Credential{Username: "alice", Password: "pw"}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := e.pull(t, testregistry.SampleOCI)
	p := push.New(client)
	if _, err := p.Push(ctx, e.st, r.String(), ref(t, e.dst.Host+"/rw/img:1")); err != nil {
		t.Fatalf("push with push rights: %v", err)
	}
	_, err = p.Push(ctx, e.st, r.String(), ref(t, e.dst.Host+"/ro/img:1"))
	if !errors.Is(err, errdefs.ErrDenied) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("push without push rights = %v, want one line, denied", err)
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

func hasAction(rec *progress.Recorder, a progress.Action) bool {
	for _, ev := range rec.Events() {
		if ev.Action == a {
			return true
		}
	}
	return false
}
