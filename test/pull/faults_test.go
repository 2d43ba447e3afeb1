package pull_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// faultEnv is a registry behind a fault-injecting proxy, an image pushed to
// it, and a puller tuned to retry quickly.
type faultEnv struct {
	reg    *testregistry.Registry
	proxy  *faultproxy.Proxy
	img    *fixtures.Image
	store  *local.Store
	client *registry.Client
	puller *pull.Puller
	ref    reference.Reference
}

const faultLayerSize = 256 << 10

func newFaultEnv(t *testing.T, regOpts []testregistry.Option, clientOpts ...registry.Option) *faultEnv {
	t.Helper()
	reg := testregistry.Start(t, regOpts...)
	img, err := fixtures.NewImage(21, 3, faultLayerSize, fixtures.Docker, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "faulty/img", "latest", img); err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, reg.URL)
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The stall timeout also bounds every healthy response: it must hold on
	// a loaded machine under -race, and stay short of what the stall faults
	// cost (each one waits it out).
	opts := append([]registry.Option{registry.WithRetry(4, 5*time.Millisecond), registry.WithStallTimeout(time.Second)}, clientOpts...)
	if reg.User != "" {
		user, pass := reg.User, reg.Pass
		opts = append(opts, registry.WithCredentials(func(context.Context, string) (auth.Credential, error) {
			return auth.Credential{Username: user, Password: pass}, nil
		}))
	}
	client, err := registry.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return &faultEnv{
		reg: reg, proxy: proxy, img: img, store: st, client: client,
		puller: pull.New(client, st),
		ref:    reference.MustParse(proxy.Host + "/faulty/img:latest"),
	}
}

// verifyStore hashes every blob in the store: whatever happened, nothing
// may be there under a digest it does not match.
func verifyStore(t *testing.T, st *local.Store) {
	t.Helper()
	ctx := context.Background()
	err := st.Walk(ctx, func(d digest.Digest, size int64) error {
		f, err := st.Open(ctx, d)
		if err != nil {
			return err
		}
		defer f.Close()
		h := d.Algorithm().Hash()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		if got := digest.NewDigest(d.Algorithm(), h); got != d || n != size {
			return fmt.Errorf("blob %s holds %s (%d bytes)", d, got, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	half := int64(faultLayerSize / 2)
	cases := []struct {
		name   string
		faults func(e *faultEnv) []*faultproxy.Fault
		// wantErr is empty when the pull must succeed.
		wantErr error
	}{
		{"reset mid-blob", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Reset(faultproxy.Blob, 2, half)}
		}, nil},
		{"reset at start", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Reset(faultproxy.Blob, 3, 0)}
		}, nil},
		{"truncated body", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Truncate(faultproxy.Blob, 2, 1000)}
		}, nil},
		{"body longer than descriptor", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Longer(faultproxy.Blob, 1, 100)}
		}, nil},
		{"body always longer", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Longer(faultproxy.Blob, 0, 100)}
		}, errdefs.ErrSizeMismatch},
		{"content-length too large", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.ContentLength(faultproxy.Blob, 1, 10)}
		}, nil},
		{"content-length too small", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.ContentLength(faultproxy.Blob, 1, -10)}
		}, nil},
		{"corrupted once", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Corrupt(faultproxy.Blob, 1, 5000)}
		}, nil},
		{"corrupted always", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Corrupt(faultproxy.Blob, 0, 5000)}
		}, errdefs.ErrDigestMismatch},
		{"5xx burst", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Status(faultproxy.Any, 1, 500), faultproxy.Status(faultproxy.Blob, 2, 502), faultproxy.Status(faultproxy.Blob, 1, 503)}
		}, nil},
		{"5xx forever", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Status(faultproxy.Blob, 0, 502)}
		}, errdefs.ErrUnavailable},
		{"429 with Retry-After", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.TooMany(faultproxy.Blob, 1, 1)}
		}, nil},
		{"stall", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Stall(faultproxy.Blob, 2, half)}
		}, nil},
		{"slow but moving", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Trickle(faultproxy.Blob, 1, 32<<10, 100*time.Millisecond)}
		}, nil},
		{"range ignored on resume", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Reset(faultproxy.Blob, 1, half), faultproxy.IgnoreRange(1)}
		}, nil},
		{"206 with wrong Content-Range", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Reset(faultproxy.Blob, 1, half), faultproxy.BadContentRange(1, 7)}
		}, nil},
		{"manifest 404", func(*faultEnv) []*faultproxy.Fault {
			return []*faultproxy.Fault{faultproxy.Status(faultproxy.Manifest, 0, 404)}
		}, errdefs.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newFaultEnv(t, nil)
			e.proxy.Inject(tc.faults(e)...)
			res, err := e.puller.Pull(context.Background(), e.ref)
			verifyStore(t, e.store)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("pull failed: %v", err)
				}
				checkStored(t, &env{store: e.store}, e.ref, e.img)
				if res.ImageID != e.img.ConfigDesc.Digest {
					t.Fatalf("image ID %s", res.ImageID)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line wrapping %v", err, tc.wantErr)
			}
			if imgs, err := e.store.Images(context.Background()); err != nil || len(imgs) != 0 {
				t.Fatalf("a failed pull recorded %v", imgs)
			}
		})
	}
}

// The registry is asked for one digest and answers with another manifest.
func TestFaultSwappedManifestByDigest(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, nil)
	other, err := fixtures.NewImage(22, 1, 1024, fixtures.Docker, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	e.proxy.Inject(faultproxy.Replace(faultproxy.Manifest, 0, other.ManifestDesc.MediaType, other.Manifest))
	_, err = e.puller.Pull(context.Background(), e.ref.WithDigest(e.img.ManifestDesc.Digest))
	if !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("got %v, want digest mismatch", err)
	}
	if imgs, err := e.store.Images(context.Background()); err != nil || len(imgs) != 0 {
		t.Fatalf("recorded %v", imgs)
	}
}

// A registry redirecting blobs to a CDN: the CDN must never see credentials.
func TestFaultRedirectToOtherHostDropsCredentials(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, []testregistry.Option{testregistry.WithBasicAuth("ann", "pw")})
	sawAuth := make(chan string, 16)
	upstream := e.reg.Client()
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth <- r.Header.Get("Authorization")
		// The CDN fetches the blob itself, with the registry's credentials
		// it was given out of band (as signed URLs do).
		resp, err := upstream.Get(e.reg.URL + strings.TrimPrefix(r.URL.Path, "/cdn"))
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Length", resp.Header.Get("Content-Length"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(cdn.Close)
	// 127.0.0.1 and localhost are different hosts to a browser and to us.
	cdnURL := strings.Replace(cdn.URL, "127.0.0.1", "localhost", 1)
	e.proxy.Inject(faultproxy.Redirect(faultproxy.Blob, 0, func(r *http.Request) string { return cdnURL + "/cdn" + r.URL.Path }))
	if _, err := e.puller.Pull(context.Background(), e.ref); err != nil {
		t.Fatal(err)
	}
	close(sawAuth)
	n := 0
	for a := range sawAuth {
		n++
		if a != "" {
			t.Fatalf("the CDN received Authorization %q", a)
		}
	}
	if n == 0 {
		t.Fatal("no blob went through the CDN")
	}
	verifyStore(t, e.store)
}

// publicName makes a loopback server look like a registry on the internet:
// "registry.example.com" dials addr.
func publicName(addr string) registry.Option {
	d := &net.Dialer{}
	return registry.WithTransport(&http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			if strings.HasPrefix(a, "registry.example.com:") {
				a = addr
			}
			return d.DialContext(ctx, network, a)
		},
	})
}

func TestFaultSSRFRefused(t *testing.T) {
	t.Parallel()
	t.Run("token realm on loopback for a public registry", func(t *testing.T) {
		t.Parallel()
		reg := testregistry.Start(t, testregistry.WithTokenAuth("u", "p"))
		client, err := registry.New(publicName(reg.Host), registry.WithInsecureAllowHTTP(true), registry.WithRetry(1, time.Millisecond),
			registry.WithCredentials(func(context.Context, string) (auth.Credential, error) {
				return auth.Credential{Username: "u", Password: "p"}, nil
			}))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := local.Open(t.TempDir())
		_, err = pull.New(client, st).Pull(context.Background(), reference.MustParse("registry.example.com/x/y"))
		if !errors.Is(err, errdefs.ErrDenied) || !strings.Contains(err.Error(), "realm") {
			t.Fatalf("got %v, want the token realm refused", err)
		}
		if reg.TokenRequests() != 0 {
			t.Fatalf("the token server was contacted %d times", reg.TokenRequests())
		}
	})
	t.Run("blob redirect from a public registry to loopback", func(t *testing.T) {
		t.Parallel()
		reg := testregistry.Start(t)
		img, _ := fixtures.NewImage(23, 1, 1024, fixtures.Docker, fixtures.Gzip, linuxAMD64)
		if err := reg.Push(context.Background(), "x/y", "latest", img); err != nil {
			t.Fatal(err)
		}
		proxy := faultproxy.Start(t, reg.URL)
		proxy.Inject(faultproxy.Redirect(faultproxy.Blob, 0, func(r *http.Request) string { return reg.URL + r.URL.Path }))
		client, err := registry.New(publicName(proxy.Host), registry.WithInsecureAllowHTTP(true), registry.WithRetry(1, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := local.Open(t.TempDir())
		_, err = pull.New(client, st).Pull(context.Background(), reference.MustParse("registry.example.com/x/y"))
		if !errors.Is(err, errdefs.ErrDenied) || !strings.Contains(err.Error(), "internal address") {
			t.Fatalf("got %v, want the redirect refused", err)
		}
	})
}

func TestFaultHTTPSToHTTPRedirectRefused(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	img, _ := fixtures.NewImage(24, 1, 1024, fixtures.Docker, fixtures.Gzip, linuxAMD64)
	if err := reg.Push(context.Background(), "x/y", "latest", img); err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.StartTLS(t, reg.URL)
	proxy.Inject(faultproxy.Redirect(faultproxy.Blob, 0, func(r *http.Request) string { return reg.URL + r.URL.Path }))
	client, err := registry.New(registry.WithRootCAs(proxy.CAPool), registry.WithRetry(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := local.Open(t.TempDir())
	_, err = pull.New(client, st).Pull(context.Background(), reference.MustParse(proxy.Host+"/x/y"))
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "https to http") {
		t.Fatalf("got %v, want the downgrade refused", err)
	}
	verifyStore(t, st)
}

// Random faults on every request, many seeds: each pull either succeeds
// with verified content or fails cleanly, and never leaves a bad blob.
// IMAGEC_FAULT_SEEDS sets how many seeds (default 12; more for a long run).
func TestFaultsRandomSeeds(t *testing.T) {
	t.Parallel()
	seeds := 12
	if s, err := strconv.Atoi(os.Getenv("IMAGEC_FAULT_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	for seed := 1; seed <= seeds; seed++ {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			t.Parallel()
			e := newFaultEnv(t, nil)
			rng := rand.New(rand.NewPCG(uint64(seed), 0))
			for range 6 {
				e.proxy.Inject(randomFault(rng))
			}
			res, err := e.puller.Pull(context.Background(), e.ref)
			verifyStore(t, e.store)
			if err != nil {
				if strings.Contains(err.Error(), "\n") || !categorized(err) {
					t.Fatalf("seed %d: unclear error %v", seed, err)
				}
				t.Logf("seed %d: failed cleanly: %v", seed, err)
				return
			}
			if res.ImageID != e.img.ConfigDesc.Digest {
				t.Fatalf("seed %d: image ID %s", seed, res.ImageID)
			}
			checkStored(t, &env{store: e.store}, e.ref, e.img)
		})
	}
}

func categorized(err error) bool {
	for _, c := range []error{errdefs.ErrUnavailable, errdefs.ErrDigestMismatch, errdefs.ErrSizeMismatch, errdefs.ErrInvalidArgument, errdefs.ErrNotFound} {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

func randomFault(rng *rand.Rand) *faultproxy.Fault {
	n := int64(rng.IntN(faultLayerSize))
	kind := []faultproxy.Kind{faultproxy.Blob, faultproxy.Blob, faultproxy.Blob, faultproxy.Manifest, faultproxy.Any}[rng.IntN(5)]
	switch rng.IntN(9) {
	case 0:
		return faultproxy.Reset(kind, 1, n)
	case 1:
		return faultproxy.Truncate(kind, 1, n)
	case 2:
		return faultproxy.Longer(kind, 1, 1+rng.IntN(100))
	case 3:
		return faultproxy.ContentLength(kind, 1, int64(rng.IntN(21)-10))
	case 4:
		return faultproxy.Corrupt(kind, 1, n)
	case 5:
		return faultproxy.Status(kind, 1, []int{500, 502, 503, 504}[rng.IntN(4)])
	case 6:
		return faultproxy.Stall(kind, 1, n)
	case 7:
		return faultproxy.IgnoreRange(1)
	default:
		return faultproxy.BadContentRange(1, int64(rng.IntN(9)-4))
	}
}

// After pulls through faults, no goroutine or file descriptor is left
// behind. Not parallel: it counts the whole process's.
func TestFaultsLeakNothing(t *testing.T) {
	e := newFaultEnv(t, nil)
	// settle closes the idle connections on both sides of the proxy and
	// waits until the goroutine count has held still for a while, so the
	// baseline and the later counts are taken in the same quiet state
	// however slow the machine is, rather than after a fixed sleep.
	settle := func() (int, int) {
		e.client.Close()
		e.proxy.CloseIdleConnections()
		g, still := runtime.NumGoroutine(), 0
		for deadline := time.Now().Add(10 * time.Second); still < 10 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			if n := runtime.NumGoroutine(); n == g {
				still++
			} else {
				g, still = n, 0
			}
		}
		return g, openFDs(t)
	}
	// One clean pull to warm up pools, then a baseline.
	if _, err := e.puller.Pull(context.Background(), e.ref); err != nil {
		t.Fatal(err)
	}
	g0, f0 := settle()
	for i, f := range []*faultproxy.Fault{
		faultproxy.Reset(faultproxy.Blob, 2, 1000), faultproxy.Stall(faultproxy.Blob, 1, 1000),
		faultproxy.Corrupt(faultproxy.Blob, 0, 10), faultproxy.Status(faultproxy.Blob, 0, 503),
	} {
		st, _ := local.Open(t.TempDir())
		e.proxy.Clear()
		e.proxy.Inject(f)
		_, _ = pull.New(e.client, st).Pull(context.Background(), e.ref)
		_ = i
	}
	e.proxy.Clear()
	deadline := time.Now().Add(30 * time.Second) // reached only by a real leak
	for {
		g, f := settle()
		if g <= g0+2 && f <= f0 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d -> %d, fds %d -> %d\n%s", g0, g, f0, f, buf[:runtime.Stack(buf, true)])
		}
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// Partial data that a crash left corrupted (it resumes, then fails
// verification) is thrown away once and the blob fetched from zero.
func TestResumeOverCorruptPartialData(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, nil)
	ctx := context.Background()
	layer := e.img.Layers[0]
	w, err := e.store.Writer(ctx, ocispec.Descriptor{MediaType: layer.MediaType, Digest: layer.Digest, Size: layer.Size})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte{0}, int(layer.Size/2))); err != nil {
		t.Fatal(err)
	}
	w.Close()
	e.proxy.ResetCounters()
	if _, err := e.puller.Pull(ctx, e.ref); err != nil {
		t.Fatal(err)
	}
	checkStored(t, &env{store: e.store}, e.ref, e.img)
	var ranged bool
	for _, r := range e.reg.Requests() {
		if strings.HasSuffix(r.Path, layer.Digest.String()) && r.Range != "" {
			ranged = true
		}
	}
	if !ranged {
		t.Fatal("the partial data was not resumed with a Range request")
	}
}
