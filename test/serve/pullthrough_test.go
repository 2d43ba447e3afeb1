package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/pullthrough"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// Several clients pulling the same images at once through an empty cache:
// each gets the registry's digests, and the registry is asked for each
// blob once. The upstream trickles blobs so that the clients overlap.
func TestPullThroughSharesOneUpstreamFetch(t *testing.T) {
	t.Parallel()
	reg, digests := seeded(t)
	proxy := faultproxy.Start(t, reg.URL)
	proxy.Inject(faultproxy.Trickle(faultproxy.Blob, 0, 16<<10, 10*time.Millisecond))
	c := newCache(t, proxy.Host)
	reg.ResetRequests()

	samples := []string{testregistry.SampleMulti, testregistry.SampleHello, testregistry.SampleOCI}
	errs := parallel(6, func(i int) error {
		for j := range samples {
			s := samples[(i+j)%len(samples)]
			repo, tag, _ := strings.Cut(s, ":")
			got, err := c.pullImage(repo, tag)
			if err != nil {
				return err
			}
			if want := digests[reg.Host+"/"+s]; got != want {
				t.Errorf("%s through the cache is %s, the registry's %s", s, got, want)
			}
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	gets := blobGets(reg)
	if len(gets) < 8 {
		t.Fatalf("the registry served %d blobs: %v", len(gets), gets)
	}
	for path, n := range gets {
		if n != 1 {
			t.Errorf("the registry served %s %d times, want once", path, n)
		}
	}
	for _, s := range samples {
		repo, tag, _ := strings.Cut(s, ":")
		if n := countRequests(reg, http.MethodGet, "/v2/"+repo+"/manifests/"+tag); n != 1 {
			t.Errorf("the registry was asked for %s %d times, want once", s, n)
		}
		// Recorded as a pull records it, under the upstream's name.
		entry, err := c.store.Image(context.Background(), proxy.Host+"/"+s)
		if err != nil {
			t.Fatalf("%s not recorded: %v", s, err)
		}
		if repoDigest, err := graph.RepoDigest(context.Background(), c.store, entry); err != nil || repoDigest != digests[reg.Host+"/"+s] {
			t.Errorf("%s recorded with repo digest %s (%v)", s, repoDigest, err)
		}
	}
}

// A blob that does not verify on its way in: the client's stream stops
// short of the blob, and nothing is committed; once the upstream mends,
// the next request gets the blob.
func TestPullThroughMismatchCutsTheStream(t *testing.T) {
	t.Parallel()
	reg, img := pushed(t, "cut/img", 1, 256<<10)
	proxy := faultproxy.Start(t, reg.URL)
	layer := img.Layers[0]
	// One byte near the end flipped, the body sent slowly: the client
	// has most of the blob before the fetch can know it is wrong.
	proxy.Inject(&faultproxy.Fault{
		Kind:  faultproxy.Blob,
		Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, layer.Digest.String()) },
		Apply: func(w http.ResponseWriter, r *http.Request, up *http.Response, _ *faultproxy.Proxy) {
			body, _ := io.ReadAll(up.Body)
			up.Body.Close()
			body[len(body)-10] ^= 0xff
			for k, vs := range up.Header {
				w.Header()[k] = vs
			}
			w.WriteHeader(up.StatusCode)
			for off := 0; off < len(body); off += 32 << 10 {
				w.Write(body[off:min(off+32<<10, len(body))])
				http.NewResponseController(w).Flush()
				time.Sleep(10 * time.Millisecond)
			}
		},
	})
	c := newCache(t, proxy.Host)
	if _, err := c.getVerified("cut/img/manifests/"+img.ManifestDesc.Digest.String(), img.ManifestDesc.Digest); err != nil {
		t.Fatal(err)
	}

	resp, body, err := c.get("cut/img/blobs/" + layer.Digest.String())
	switch {
	case resp == nil || resp.StatusCode != http.StatusOK || len(body) == 0:
		t.Fatalf("want a stream cut midway, got %v with %d bytes, %v", resp, len(body), err)
	case err == nil:
		t.Fatalf("a corrupted blob was answered whole (%d bytes, digest %s)", len(body), digest.FromBytes(body))
	case int64(len(body)) >= layer.Size:
		t.Fatalf("the client received %d bytes of a %d byte blob that did not verify", len(body), layer.Size)
	}
	desc := ocispec.Descriptor{Digest: layer.Digest, Size: layer.Size}
	if c.store.Has(context.Background(), desc) {
		t.Fatal("the blob that did not verify was committed")
	}

	proxy.Clear()
	// The cut fetch may still be on its one restart, begun before the
	// upstream mended; a client that joins it is cut as the first was.
	// Clients retry (docker and containerd do): within three tries one
	// gets the verified blob, and no try gets the wrong blob whole.
	var mended error
	for try := 0; try < 3; try++ {
		resp, body, err := c.get("cut/img/blobs/" + layer.Digest.String())
		if err == nil && resp.StatusCode == http.StatusOK {
			if got := digest.FromBytes(body); got != layer.Digest {
				t.Fatalf("try %d: a blob hashing to %s was answered whole", try+1, got)
			}
			mended = nil
			break
		}
		mended = fmt.Errorf("try %d: %v %v", try+1, resp, err)
		time.Sleep(50 * time.Millisecond)
	}
	if mended != nil {
		t.Fatalf("after the upstream mended: %v", mended)
	}
	if !c.store.Has(context.Background(), desc) {
		t.Fatal("the blob is not stored after a good fetch")
	}
}

// A tag is answered from the store for the TTL, then re-checked with a
// HEAD; a moved tag is fetched anew. A listed blob's HEAD needs no fetch.
func TestPullThroughTagTTL(t *testing.T) {
	t.Parallel()
	reg, img := pushed(t, "ttl/img", 1, 4096)

	long := newCache(t, reg.Host, pullthrough.WithTagTTL(time.Hour))
	if _, err := long.pullImage("ttl/img", "latest"); err != nil {
		t.Fatal(err)
	}
	reg.ResetRequests()
	if _, err := long.getVerified("ttl/img/manifests/latest", img.ManifestDesc.Digest); err != nil {
		t.Fatal(err)
	}
	if reqs := reg.Requests(); len(reqs) != 0 {
		t.Fatalf("a fresh tag asked the registry: %+v", reqs)
	}

	short := newCache(t, reg.Host, pullthrough.WithTagTTL(0))
	if _, err := short.getVerified("ttl/img/manifests/latest", img.ManifestDesc.Digest); err != nil {
		t.Fatal(err)
	}
	reg.ResetRequests()
	head, err := http.Head(short.url + "/v2/ttl/img/blobs/" + img.Layers[0].Digest.String() + "?ns=" + reg.Host)
	if err != nil || head.StatusCode != http.StatusOK || head.ContentLength != img.Layers[0].Size || len(reg.Requests()) != 0 {
		t.Fatalf("HEAD of a listed blob not yet fetched: %v %v, %d upstream requests", head, err, len(reg.Requests()))
	}
	head.Body.Close()
	reg.ResetRequests()
	if _, err := short.getVerified("ttl/img/manifests/latest", img.ManifestDesc.Digest); err != nil {
		t.Fatal(err)
	}
	if n, heads := countRequests(reg, http.MethodGet, "/manifests/latest"), countRequests(reg, http.MethodHead, "/manifests/latest"); n != 0 || heads != 1 {
		t.Fatalf("an unchanged tag past its TTL: %d GETs and %d HEADs of it upstream, want 0 and 1", n, heads)
	}

	moved, err := fixtures.NewImage(32, 1, 4096, fixtures.OCI, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "ttl/img", "latest", moved); err != nil {
		t.Fatal(err)
	}
	if _, err := short.getVerified("ttl/img/manifests/latest", moved.ManifestDesc.Digest); err != nil {
		t.Fatalf("a moved tag: %v", err)
	}
}

func countRequests(reg *testregistry.Registry, method, suffix string) int {
	n := 0
	for _, r := range reg.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}
