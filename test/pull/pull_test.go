package pull_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
	"github.com/imagec/imagec/test/internal/testregistry"
)

var linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

type env struct {
	reg    *testregistry.Registry
	store  *local.Store
	puller *pull.Puller
}

func newEnv(t *testing.T, regOpts []testregistry.Option, clientOpts ...registry.Option) *env {
	t.Helper()
	reg := testregistry.Start(t, regOpts...)
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if reg.CAPool != nil {
		clientOpts = append(clientOpts, registry.WithRootCAs(reg.CAPool))
	}
	if reg.User != "" {
		user, pass := reg.User, reg.Pass
		clientOpts = append(clientOpts, registry.WithCredentials(func(context.Context, string) (auth.Credential, error) {
			return auth.Credential{Username: user, Password: pass}, nil
		}))
	}
	c, err := registry.New(clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, store: st, puller: pull.New(c, st)}
}

func (e *env) ref(t *testing.T, repoTag string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(e.reg.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func push(t *testing.T, e *env, repo, tag string, img *fixtures.Image) {
	t.Helper()
	if err := e.reg.Push(context.Background(), repo, tag, img); err != nil {
		t.Fatal(err)
	}
}

func newImage(t *testing.T, seed int64, f fixtures.Format, c fixtures.Compression) *fixtures.Image {
	t.Helper()
	img, err := fixtures.NewImage(seed, 3, 64<<10, f, c, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// checkStored asserts the image is recorded under ref with every blob present
// and verified, and that it reads back with the expected ID.
func checkStored(t *testing.T, e *env, ref reference.Reference, img *fixtures.Image) *image.Image {
	t.Helper()
	ctx := context.Background()
	entry, err := e.store.Image(ctx, ref.String())
	if err != nil {
		t.Fatalf("image %s not recorded: %v", ref, err)
	}
	got, err := image.Load(ctx, e.store, entry, &img.Platform)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != img.ConfigDesc.Digest {
		t.Fatalf("image ID %s, want %s", got.ID(), img.ConfigDesc.Digest)
	}
	for _, l := range img.Layers {
		if len(l.URLs) > 0 {
			continue
		}
		if _, err := e.store.ReadBlob(ctx, l.Digest, 1<<30); err != nil {
			t.Fatalf("layer %s: %v", l.Digest, err)
		}
	}
	return got
}

func TestPullFormats(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    fixtures.Format
		c    fixtures.Compression
	}{
		{"docker-gzip", fixtures.Docker, fixtures.Gzip},
		{"docker-uncompressed", fixtures.Docker, fixtures.Uncompressed},
		{"oci-gzip", fixtures.OCI, fixtures.Gzip},
		{"oci-zstd", fixtures.OCI, fixtures.Zstd},
		{"oci-uncompressed", fixtures.OCI, fixtures.Uncompressed},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			img := newImage(t, int64(100+i), tc.f, tc.c)
			push(t, e, "test/img", "v1", img)
			ref := e.ref(t, "test/img:v1")
			rec := &progress.Recorder{}
			res, err := e.puller.Pull(context.Background(), ref, pull.WithProgress(rec))
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != img.ManifestDesc.Digest || res.ImageID != img.ConfigDesc.Digest || res.UpToDate {
				t.Fatalf("result %+v, want digest %s id %s", res, img.ManifestDesc.Digest, img.ConfigDesc.Digest)
			}
			if res.Fetched != len(img.Layers)+1 {
				t.Fatalf("fetched %d blobs, want %d", res.Fetched, len(img.Layers)+1)
			}
			checkStored(t, e, ref, img)
			assertStatus(t, rec, "Status: Downloaded newer image for "+ref.Familiar())
		})
	}
}

func assertStatus(t *testing.T, rec *progress.Recorder, want string) {
	t.Helper()
	var got []string
	for _, ev := range rec.Events() {
		if ev.Action == progress.Status {
			got = append(got, ev.Message)
		}
	}
	if len(got) == 0 || got[len(got)-1] != want {
		t.Fatalf("status lines %q, want last %q", got, want)
	}
}

// The second pull of the same image must not download any blob.
func TestSecondPullFetchesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	img := newImage(t, 7, fixtures.Docker, fixtures.Gzip)
	push(t, e, "test/again", "latest", img)
	ref := e.ref(t, "test/again")
	if _, err := e.puller.Pull(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	e.reg.ResetRequests()
	rec := &progress.Recorder{}
	res, err := e.puller.Pull(context.Background(), ref, pull.WithProgress(rec))
	if err != nil {
		t.Fatal(err)
	}
	if !res.UpToDate || res.Fetched != 0 {
		t.Fatalf("second pull: %+v, want up to date with nothing fetched", res)
	}
	if n := e.reg.BlobGets(); n != 0 {
		t.Fatalf("second pull made %d blob GETs", n)
	}
	for _, r := range e.reg.Requests() {
		if r.Method == "GET" && strings.Contains(r.Path, "/manifests/") {
			t.Fatalf("second pull fetched a manifest body: %+v", r)
		}
	}
	assertStatus(t, rec, "Status: Image is up to date for "+ref.Familiar())
}

// A tag moved to another image that shares layers: only the new blobs come.
func TestRetagDownloadsOnlyNewBlobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	first := newImage(t, 8, fixtures.OCI, fixtures.Gzip)
	push(t, e, "test/moving", "latest", first)
	ref := e.ref(t, "test/moving:latest")
	if _, err := e.puller.Pull(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	second := newImage(t, 9, fixtures.OCI, fixtures.Gzip)
	push(t, e, "test/moving", "latest", second)
	res, err := e.puller.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.UpToDate || res.ImageID != second.ConfigDesc.Digest {
		t.Fatalf("result %+v, want the new image %s", res, second.ConfigDesc.Digest)
	}
	checkStored(t, e, ref, second)
}

func TestPullIndexSelectsPlatform(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	digests, err := testregistry.SeedSamples(context.Background(), e.reg)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := testregistry.SampleMultiIndex()
	if err != nil {
		t.Fatal(err)
	}
	ref := e.ref(t, testregistry.SampleMulti)
	for _, want := range testregistry.SampleMultiPlatforms {
		res, err := e.puller.Pull(context.Background(), ref, pull.WithPlatform(want))
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if res.UpToDate {
			t.Fatalf("%v: up to date although only other platforms were present", want)
		}
		if res.Digest != digests[ref.Name()+":latest"] {
			t.Fatalf("digest %s, want the index %s", res.Digest, digests[ref.Name()+":latest"])
		}
		var img *fixtures.Image
		for _, c := range idx.Images {
			if c.Platform.Architecture == want.Architecture {
				img = c
			}
		}
		if res.ImageID != img.ConfigDesc.Digest || res.Manifest.Digest != img.ManifestDesc.Digest {
			t.Fatalf("%v: pulled %s, want %s", want, res.Manifest.Digest, img.ManifestDesc.Digest)
		}
		checkStored(t, e, ref, img)
	}
	// Every platform was pulled in turn: each pull after the first found
	// its own platform missing and fetched it.
	for _, want := range testregistry.SampleMultiPlatforms {
		res, err := e.puller.Pull(context.Background(), ref, pull.WithPlatform(want))
		if err != nil || !res.UpToDate {
			t.Fatalf("%v again: %+v %v", want, res, err)
		}
	}
	_, err = e.puller.Pull(context.Background(), ref, pull.WithPlatform(ocispec.Platform{OS: "windows", Architecture: "amd64"}))
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "linux/arm64") {
		t.Fatalf("unknown platform: %v, want not found listing the available ones", err)
	}
}

func TestPullForeignLayerIsRecordedNotFetched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	img, err := fixtures.ForeignLayerImage(11, 2, 32<<10, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	push(t, e, "test/foreign", "latest", img)
	ref := e.ref(t, "test/foreign")
	res, err := e.puller.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	foreign := img.Layers[len(img.Layers)-1]
	if _, err := e.store.Info(context.Background(), foreign.Digest); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("foreign layer in the store: %v", err)
	}
	got := checkStored(t, e, ref, img)
	if len(got.Manifest.Layers) != len(img.Layers) || res.Fetched != len(img.Layers) {
		t.Fatalf("manifest has %d layers, fetched %d", len(got.Manifest.Layers), res.Fetched)
	}
	// Complete without the foreign layer: a second pull fetches nothing.
	res, err = e.puller.Pull(context.Background(), ref)
	if err != nil || !res.UpToDate {
		t.Fatalf("second pull: %+v %v", res, err)
	}
}

func TestPullByDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	img := newImage(t, 12, fixtures.Docker, fixtures.Gzip)
	push(t, e, "test/pinned", "v1", img)
	ref := e.ref(t, "test/pinned:v1@"+img.ManifestDesc.Digest.String())
	if ref.Digest() != img.ManifestDesc.Digest {
		t.Fatalf("reference lost its digest: %s", ref)
	}
	res, err := e.puller.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != img.ManifestDesc.Digest {
		t.Fatalf("digest %s", res.Digest)
	}
	checkStored(t, e, ref, img)

	// Up to date by digest needs no registry at all.
	e.reg.ResetRequests()
	if res, err = e.puller.Pull(context.Background(), ref); err != nil || !res.UpToDate || res.Digest != img.ManifestDesc.Digest {
		t.Fatalf("again: %+v %v, want up to date at %s", res, err, img.ManifestDesc.Digest)
	}
	if n := len(e.reg.Requests()); n != 0 {
		t.Fatalf("pull of a present digest made %d requests", n)
	}

	missing := e.ref(t, "test/pinned@"+digest.FromString("nope").String())
	if _, err := e.puller.Pull(context.Background(), missing); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown digest: %v", err)
	}
}

func TestPullNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, err := e.puller.Pull(context.Background(), e.ref(t, "no/such:thing"))
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
}

func TestPullWithAuth(t *testing.T) {
	t.Parallel()
	cases := map[string][]testregistry.Option{
		"basic":     {testregistry.WithBasicAuth("alice", "s3cret")},
		"token":     {testregistry.WithTokenAuth("bob", "hunter2")},
		"tls-token": {testregistry.WithTLS(), testregistry.WithTokenAuth("carol", "pw")},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, opts)
			img := newImage(t, 13, fixtures.OCI, fixtures.Gzip)
			push(t, e, "private/img", "latest", img)
			ref := e.ref(t, "private/img")
			if _, err := e.puller.Pull(context.Background(), ref); err != nil {
				t.Fatal(err)
			}
			checkStored(t, e, ref, img)

			// Without credentials the same pull is refused, clearly.
			anon, err := registry.New(registry.WithRootCAs(e.reg.CAPool))
			if err != nil {
				t.Fatal(err)
			}
			other, _ := local.Open(t.TempDir())
			_, err = pull.New(anon, other).Pull(context.Background(), ref)
			if !errors.Is(err, errdefs.ErrUnauthorized) && !errors.Is(err, errdefs.ErrDenied) {
				t.Fatalf("anonymous pull: %v, want unauthorized", err)
			}
		})
	}
}

func TestPullTLSUnknownAuthority(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t, testregistry.WithTLS())
	st, _ := local.Open(t.TempDir())
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	// A loopback registry may fall back to plain HTTP, but this one speaks
	// only TLS: the error must say verification failed.
	_, err = pull.New(c, st).Pull(context.Background(), reference.MustParse(reg.Host+"/x/y:z"))
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("got %v, want a TLS verification error", err)
	}
}

// Two pulls in one process of images sharing layers fetch each blob once.
func TestConcurrentPullsShareDownloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	img, err := fixtures.NewImage(14, 4, 512<<10, fixtures.Docker, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	push(t, e, "team/a", "latest", img)
	push(t, e, "team/b", "latest", img)
	e.reg.ResetRequests()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := []string{"team/a", "team/b"}[i%2]
			_, errs[i] = e.puller.Pull(context.Background(), e.ref(t, repo))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range img.Layers {
		n := 0
		for _, r := range e.reg.Requests() {
			if r.Method == "GET" && strings.HasSuffix(r.Path, "/blobs/"+l.Digest.String()) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("layer %s fetched %d times, want once", l.Digest, n)
		}
	}
}

func TestInvalidReferenceFailsBeforeNetwork(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"upper/Case", "a:b:c", "", "repo@sha256:123", "-leading"} {
		if _, err := reference.Parse(s); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Parse(%q) = %v, want invalid argument", s, err)
		}
	}
}

// The layer hook sees every layer in order, each already in the store.
func TestLayerHookInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	img, err := fixtures.NewImage(15, 5, 256<<10, fixtures.OCI, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	push(t, e, "hook/img", "latest", img)
	var seen []int
	hook := func(ctx context.Context, i int, l ocispec.Descriptor, diffID digest.Digest) error {
		if _, err := e.store.Info(ctx, l.Digest); err != nil {
			return err
		}
		if l.Digest != img.Layers[i].Digest || diffID != img.Layers[i].DiffID {
			t.Errorf("layer %d: got %s/%s", i, l.Digest, diffID)
		}
		seen = append(seen, i)
		return nil
	}
	if _, err := e.puller.Pull(context.Background(), e.ref(t, "hook/img"), pull.WithLayerHook(hook)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 5 || seen[0] != 0 || seen[4] != 4 {
		t.Fatalf("hook saw %v", seen)
	}
	boom := errors.New("boom")
	other, _ := local.Open(t.TempDir())
	c, _ := registry.New()
	_, err = pull.New(c, other).Pull(context.Background(), e.ref(t, "hook/img"), pull.WithLayerHook(func(context.Context, int, ocispec.Descriptor, digest.Digest) error { return boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("hook error: %v", err)
	}
	if imgs, err := other.Images(context.Background()); err != nil || len(imgs) != 0 {
		t.Fatal("a pull whose hook failed recorded the image")
	}
}

// Asked to, a pull fetches a foreign layer from the URL it lists, without
// credentials, and falls back to the registry when the URL fails.
func TestPullForeignLayerFromItsURL(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		served []string
		layer  *fixtures.Layer
	)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		served = append(served, r.Header.Get("Authorization"))
		if layer == nil || !strings.HasSuffix(r.URL.Path, layer.Digest.Encoded()) {
			http.NotFound(w, r)
			return
		}
		w.Write(layer.Data)
	}))
	t.Cleanup(cdn.Close)
	e := newEnv(t, []testregistry.Option{testregistry.WithBasicAuth("u", "p")})
	img, err := fixtures.ForeignLayerImageAt(16, 1, 32<<10, linuxAMD64, cdn.URL+"/foreign/")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	layer = &img.Layers[len(img.Layers)-1]
	mu.Unlock()
	push(t, e, "win/app", "latest", img)
	res, err := e.puller.Pull(context.Background(), e.ref(t, "win/app"), pull.WithForeignLayers(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ReadBlob(context.Background(), layer.Digest, 1<<30); err != nil {
		t.Fatalf("foreign layer not stored: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(served) != 1 || served[0] != "" || res.Fetched != len(img.Layers)+1 {
		t.Fatalf("URL requests %q (want one without Authorization), fetched %d", served, res.Fetched)
	}
}
