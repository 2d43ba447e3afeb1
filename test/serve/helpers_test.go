// Package serve_test runs registry/server and pullthrough against real
// registries in-process: what clients get through a pull-through cache,
// and what the upstream registry is asked for.
package serve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/pullthrough"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/server"
	"github.com/imagec/imagec/test/internal/testregistry"
)

var linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// cache is a pull-through cache over an empty store, serving on loopback,
// whose upstream is the registry (or proxy) at upstream.
type cache struct {
	url      string
	upstream string
	store    *local.Store
}

func newCache(t *testing.T, upstream string, opts ...pullthrough.Option) *cache {
	t.Helper()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.WithRetry(3, 5*time.Millisecond), registry.WithStallTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	up := pullthrough.New(st, pull.New(client, st), append([]pullthrough.Option{pullthrough.WithRegistries(upstream)}, opts...)...)
	srv := httptest.NewServer(server.New(st, server.WithUpstream(up)))
	t.Cleanup(srv.Close)
	return &cache{url: srv.URL, upstream: upstream, store: st}
}

// get fetches an API path of the cache, with ns naming the upstream as
// containerd does; err is set when the body could not be read whole.
func (c *cache) get(path string, header ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, c.url+"/v2/"+path+"?ns="+url.QueryEscape(c.upstream), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", strings.Join(manifest.Accept, ", "))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// getVerified fetches path and checks the answer is 200 with a body that
// hashes to want.
func (c *cache) getVerified(path string, want digest.Digest) ([]byte, error) {
	resp, body, err := c.get(path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %s", path, resp.Status, body)
	}
	if got := digest.FromBytes(body); got != want {
		return nil, fmt.Errorf("GET %s: body hashes to %s, want %s", path, got, want)
	}
	return body, nil
}

// pullImage fetches repo:tag through the cache as a client does: the top
// document, the linux/amd64 manifest of an index, its config and layers,
// each verified. It returns the top document's digest.
func (c *cache) pullImage(repo, tag string) (digest.Digest, error) {
	resp, body, err := c.get(repo + "/manifests/" + tag)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s:%s: %v %v %s", repo, tag, err, resp, body)
	}
	top := digest.FromBytes(body)
	if dcd := resp.Header.Get("Docker-Content-Digest"); dcd != top.String() {
		return "", fmt.Errorf("GET %s:%s: Docker-Content-Digest %s, body %s", repo, tag, dcd, top)
	}
	parsed, err := manifest.Parse(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return "", err
	}
	if parsed.Index != nil {
		child, err := manifest.SelectManifest(parsed.Index, linuxAMD64)
		if err != nil {
			return "", err
		}
		if body, err = c.getVerified(repo+"/manifests/"+child.Digest.String(), child.Digest); err != nil {
			return "", err
		}
		if parsed, err = manifest.Parse(child.MediaType, body); err != nil {
			return "", err
		}
	}
	blobs := append([]ocispec.Descriptor{parsed.Image.Config}, parsed.Image.Layers...)
	for _, b := range blobs {
		if _, err := c.getVerified(repo+"/blobs/"+b.Digest.String(), b.Digest); err != nil {
			return "", err
		}
	}
	return top, nil
}

// blobGets counts the upstream's blob GETs answered with content, by
// path.
func blobGets(reg *testregistry.Registry) map[string]int {
	out := map[string]int{}
	for _, r := range reg.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/blobs/") && (r.Status == http.StatusOK || r.Status == http.StatusPartialContent) {
			out[r.Path]++
		}
	}
	return out
}

// seeded starts a registry with the sample images.
func seeded(t *testing.T) (*testregistry.Registry, map[string]digest.Digest) {
	t.Helper()
	reg := testregistry.Start(t)
	digests, err := testregistry.SeedSamples(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return reg, digests
}

// pushed starts a registry holding one image of layers of size bytes.
func pushed(t *testing.T, repo string, layers, size int) (*testregistry.Registry, *fixtures.Image) {
	t.Helper()
	reg := testregistry.Start(t)
	img, err := fixtures.NewImage(31, layers, size, fixtures.OCI, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), repo, "latest", img); err != nil {
		t.Fatal(err)
	}
	return reg, img
}

// parallel runs fn n times at once and returns the errors.
func parallel(n int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}
