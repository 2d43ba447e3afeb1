package pull_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// partsEnv is an image with one large incompressible layer behind a fault
// proxy, pulled in parts.
type partsEnv struct {
	reg   *testregistry.Registry
	proxy *faultproxy.Proxy
	img   *fixtures.Image
	ref   reference.Reference
}

// partsLayer is large enough for several parts (of pull.DefaultPartSize).
const partsLayer = 18 << 20

func newPartsEnv(t *testing.T) *partsEnv {
	t.Helper()
	return newPartsEnvSize(t, partsLayer)
}

func newPartsEnvSize(t *testing.T, layerSize int) *partsEnv {
	t.Helper()
	reg := testregistry.Start(t)
	img, err := fixtures.NewImage(77, 1, layerSize, fixtures.OCI, fixtures.Uncompressed, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "parts/img", "latest", img); err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, reg.URL)
	return &partsEnv{reg: reg, proxy: proxy, img: img, ref: reference.MustParse(proxy.Host + "/parts/img:latest")}
}

func (e *partsEnv) pull(t *testing.T, opts ...pull.Option) (*local.Store, error) {
	t.Helper()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.WithRetry(5, 5*time.Millisecond), registry.WithStallTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	_, err = pull.New(client, st, opts...).Pull(context.Background(), e.ref)
	return st, err
}

// onLayer narrows f to the requests for the large layer.
func (e *partsEnv) onLayer(f *faultproxy.Fault) *faultproxy.Fault {
	layer, match := e.img.Layers[0].Digest.String(), f.Match
	f.Match = func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, layer) && (match == nil || match(r))
	}
	return f
}

// rangeKinds counts the GETs of the layer that reached the registry by the
// length of the range they asked for: a part (pull.DefaultPartSize at
// most), or a longer range (the rest of the blob as one stream).
func (e *partsEnv) rangeKinds() (parts, streams int) {
	layer := e.img.Layers[0].Digest.String()
	for _, r := range e.reg.Requests() {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.Path, layer) {
			continue
		}
		if isStream(r.Range) {
			streams++
		} else {
			parts++
		}
	}
	return
}

// isStream: a Range header asking for more than one part.
func isStream(h string) bool {
	var s, e int64
	if _, err := fmt.Sscanf(h, "bytes=%d-%d", &s, &e); err != nil {
		return strings.HasSuffix(h, "-") // open: to the end
	}
	return e-s+1 > pull.DefaultPartSize
}

// ranged counts the GETs of the layer that reached the registry, and those
// that asked for a closed range (a part).
func (e *partsEnv) ranged() (gets, parts int) {
	layer := e.img.Layers[0].Digest.String()
	for _, r := range e.reg.Requests() {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.Path, layer) {
			continue
		}
		gets++
		if strings.HasPrefix(r.Range, "bytes=") && !strings.HasSuffix(r.Range, "-") {
			parts++
		}
	}
	return
}

func TestPullInParts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fault     *faultproxy.Fault // applied to the layer's requests
		wantParts bool              // every GET of the layer asked for a part
		extraGets int               // beyond one per part (or one in all without ranges)
	}{
		{name: "healthy", wantParts: true},
		{name: "range ignored", fault: faultproxy.IgnoreRange(1)},
		{name: "wrong content-range", fault: faultproxy.BadContentRange(1, 7), extraGets: 1},
		{name: "reset mid-part", fault: faultproxy.Reset(faultproxy.Blob, 2, 1<<20), wantParts: true, extraGets: 2},
		{name: "5xx on parts", fault: faultproxy.Status(faultproxy.Blob, 3, http.StatusServiceUnavailable), wantParts: true, extraGets: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newPartsEnv(t)
			if tc.fault != nil {
				e.proxy.Inject(e.onLayer(tc.fault))
			}
			st, err := e.pull(t, pull.WithParts(4))
			if err != nil {
				t.Fatal(err)
			}
			verifyStore(t, st)
			gets, parts := e.ranged()
			maxGets := 1 + tc.extraGets
			if tc.wantParts {
				maxGets = int((e.img.Layers[0].Size+pull.DefaultPartSize-1)/pull.DefaultPartSize) + tc.extraGets
			}
			if gets > maxGets {
				t.Errorf("%d GETs of the layer, want at most %d", gets, maxGets)
			}
			if tc.wantParts && parts != gets {
				t.Errorf("%d of %d GETs asked for a part", parts, gets)
			}
			if !tc.wantParts && parts > 1 {
				t.Errorf("%d part requests after the server showed it does not serve ranges", parts)
			}
		})
	}
}

// Each part may be redirected (an object store's signed URL): later parts
// go to where the first one was sent, without the registry.
func TestPullInPartsFollowsRedirectOnce(t *testing.T) {
	t.Parallel()
	e := newPartsEnv(t)
	cdn := faultproxy.Start(t, e.reg.URL)
	e.proxy.Inject(e.onLayer(faultproxy.Redirect(faultproxy.Blob, 1, func(r *http.Request) string {
		return "http://" + cdn.Host + r.URL.Path
	})))
	st, err := e.pull(t, pull.WithParts(4))
	if err != nil {
		t.Fatal(err)
	}
	verifyStore(t, st)
	if n := e.proxy.Count(http.MethodGet, e.img.Layers[0].Digest.String()); n != 1 {
		t.Errorf("the registry's address got %d GETs of the layer, want 1 (the rest go to the redirect target)", n)
	}
	if n := cdn.Count(http.MethodGet, e.img.Layers[0].Digest.String()); n < 4 {
		t.Errorf("the redirect target got %d part requests, want every part", n)
	}
}

// Without WithParts, a large blob's first part comes alone and is timed:
// arriving faster than the split rate (1 MB/s here, which loopback beats
// even under the race detector), the rest comes as one stream (two GETs
// in all); trickled slower than pull.DefaultSplitRate, the rest comes in
// parts.
func TestPullSplitsOnlyASlowLink(t *testing.T) {
	t.Parallel()
	t.Run("fast", func(t *testing.T) {
		t.Parallel()
		e := newPartsEnv(t)
		st, err := e.pull(t, pull.WithSplitRate(1e6))
		if err != nil {
			t.Fatal(err)
		}
		verifyStore(t, st)
		if parts, streams := e.rangeKinds(); parts != 1 || streams != 1 {
			t.Errorf("%d part requests and %d longer ranges; want the first part, then the rest as one", parts, streams)
		}
	})
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		e := newPartsEnv(t)
		// 64 KiB every 5 ms: about 13 MB/s per connection at most.
		e.proxy.Inject(e.onLayer(faultproxy.Trickle(faultproxy.Blob, 0, 64<<10, 5*time.Millisecond)))
		st, err := e.pull(t)
		if err != nil {
			t.Fatal(err)
		}
		verifyStore(t, st)
		n := int((e.img.Layers[0].Size + pull.DefaultPartSize - 1) / pull.DefaultPartSize)
		if gets, parts := e.ranged(); gets != n || parts != n {
			t.Errorf("%d GETs of the layer, %d of them parts; want %d parts", gets, parts, n)
		}
	})
}
