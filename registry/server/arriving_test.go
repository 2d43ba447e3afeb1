package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/reference"
)

// fakeUpstream hands out a blob that arrives as data, then fails with
// err (nil: it verified). The test changes what it hands out between
// requests while the server's handler goroutines may still be finishing,
// so the pair is read and set under a lock.
type fakeUpstream struct {
	mu   sync.Mutex
	data []byte
	err  error
}

func (u *fakeUpstream) set(data []byte, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data, u.err = data, err
}

func (u *fakeUpstream) Manifest(context.Context, reference.Reference, bool) error { return nil }

func (u *fakeUpstream) Blob(context.Context, reference.Reference, ocispec.Descriptor) (Arriving, error) {
	return &fakeArriving{u}, nil
}

type fakeArriving struct{ u *fakeUpstream }

func (a *fakeArriving) ReadAt(_ context.Context, p []byte, off int64) (int, error) {
	a.u.mu.Lock()
	data, err := a.u.data, a.u.err
	a.u.mu.Unlock()
	if off >= int64(len(data)) {
		if err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	return copy(p, data[off:]), nil
}

func (a *fakeArriving) Close() error { return nil }

// A blob a stored manifest lists but the store lacks streams from the
// upstream: whole and by range when it verifies, cut off when it fails
// midway, an error answer when it fails before the first byte.
func TestArrivingBlobsStreamOrAreCut(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	img := storeImage(t, st, 11, fixtures.OCI, "example.com/app:1")
	layer := img.Layers[0]
	if err := st.Delete(context.Background(), layer.Digest); err != nil {
		t.Fatal(err)
	}
	up := &fakeUpstream{data: layer.Data}
	srv := httptest.NewServer(New(st, WithUpstream(up)))
	defer srv.Close()
	target := srv.URL + "/v2/app/blobs/" + layer.Digest.String()
	get := func(header ...string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
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

	resp, body, err := get()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != string(layer.Data) {
		t.Fatalf("whole: %v %v (%d bytes)", resp, err, len(body))
	}
	resp, body, err = get("Range", "bytes=5-9")
	if err != nil || resp.StatusCode != http.StatusPartialContent || string(body) != string(layer.Data[5:10]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 5-9/%d", layer.Size) {
		t.Fatalf("range: %v %v %q", resp, err, body)
	}

	up.set(layer.Data[:100], fmt.Errorf("content hashes to something else: %w", errdefs.ErrDigestMismatch))
	resp, body, err = get()
	if err == nil || resp.StatusCode != http.StatusOK || len(body) != 100 {
		t.Fatalf("failing midway: %v, %d bytes, %v; want 100 bytes and a broken body", resp, len(body), err)
	}
	up.set(nil, fmt.Errorf("upstream: %w", errdefs.ErrNotFound))
	resp, body, err = get()
	if err != nil || resp.StatusCode != http.StatusNotFound || errorCode(t, body) != "BLOB_UNKNOWN" {
		t.Fatalf("failing at once: %v %v %s", resp, err, body)
	}
}

// countingSource counts the documents read through it.
type countingSource struct {
	*local.Store
	reads atomic.Int64
}

func (c *countingSource) ReadBlob(ctx context.Context, d digest.Digest, max int64) ([]byte, error) {
	c.reads.Add(1)
	return c.Store.ReadBlob(ctx, d, max)
}

// A listed blob still arriving is found in the repository's reach set:
// requests for it read no document again (the names did not change).
func TestArrivingBlobCostsNoWalk(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	img := storeImage(t, st, 12, fixtures.OCI, "example.com/app:1")
	layer := img.Layers[0]
	if err := st.Delete(context.Background(), layer.Digest); err != nil {
		t.Fatal(err)
	}
	src := &countingSource{Store: st}
	srv := httptest.NewServer(New(src, WithUpstream(&fakeUpstream{data: layer.Data})))
	defer srv.Close()
	get := func() {
		resp, err := http.Get(srv.URL + "/v2/app/blobs/" + layer.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != string(layer.Data) {
			t.Fatalf("GET: %s, %d bytes", resp.Status, len(body))
		}
	}
	get()
	before := src.reads.Load()
	for range 5 {
		get()
	}
	if n := src.reads.Load() - before; n != 0 {
		t.Errorf("5 more GETs of an arriving blob read %d documents; want 0", n)
	}
}
