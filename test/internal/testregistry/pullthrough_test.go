package testregistry

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/opencontainers/go-digest"
)

func TestPullThroughCachesUpstream(t *testing.T) {
	t.Parallel()
	// Seeds unique to this test: Distribution tracks in-flight proxy
	// downloads by digest process-wide.
	img, err := fixtures.NewImage(1701, 2, 4096, fixtures.Docker, fixtures.Gzip, amd64)
	if err != nil {
		t.Fatal(err)
	}
	upstream := Start(t)
	if err := upstream.Push(t.Context(), "mirrored/app", "v1", img); err != nil {
		t.Fatalf("push upstream: %v", err)
	}
	cache := Start(t, WithPullThrough(upstream.URL+"/"))
	upstream.ResetRequests()

	hc := plainClient(cache)
	blobs := []digest.Digest{img.ConfigDesc.Digest, img.Layers[0].Digest, img.Layers[1].Digest}
	for round := 1; round <= 2; round++ {
		status, hdr, body := fetch(t, hc, cache.URL+"/v2/mirrored/app/manifests/v1", acceptAll, nil)
		if status != http.StatusOK || !bytes.Equal(body, img.Manifest) || hdr.Get("Docker-Content-Digest") != img.ManifestDesc.Digest.String() {
			t.Fatalf("round %d: manifest through cache: status %d, digest %s, want %s", round, status, hdr.Get("Docker-Content-Digest"), img.ManifestDesc.Digest)
		}
		for _, want := range blobs {
			status, _, blob := fetch(t, hc, cache.URL+"/v2/mirrored/app/blobs/"+want.String(), "", nil)
			if status != http.StatusOK || digest.FromBytes(blob) != want {
				t.Fatalf("round %d: blob %s through cache: status %d, digest %s", round, want, status, digest.FromBytes(blob))
			}
		}
	}

	if n := cache.BlobGets(); n != 2*len(blobs) {
		t.Errorf("cache answered %d blob GETs, want %d", n, 2*len(blobs))
	}
	if n := upstream.BlobGets(); n != len(blobs) {
		t.Errorf("upstream answered %d blob GETs, want %d (one per blob)", n, len(blobs))
	}
	gets := map[string]int{}
	for _, req := range upstream.Requests() {
		if req.Method == http.MethodGet && strings.Contains(req.Path, "/blobs/") {
			gets[req.Path[strings.LastIndex(req.Path, "/")+1:]]++
		}
	}
	for _, d := range blobs {
		if gets[d.String()] != 1 {
			t.Errorf("upstream GETs of %s = %d, want 1", d, gets[d.String()])
		}
	}

	// A pull-through cache is read-only.
	other, err := fixtures.NewImage(1702, 1, 512, fixtures.OCI, fixtures.Gzip, amd64)
	if err != nil {
		t.Fatal(err)
	}
	err = cache.Push(t.Context(), "mirrored/other", "v1", other)
	if err == nil || !strings.Contains(err.Error(), "405") || !strings.Contains(err.Error(), "UNSUPPORTED") {
		t.Fatalf("push to a pull-through cache: err = %v, want 405 UNSUPPORTED", err)
	}
}

func TestPullThroughRejectsBadUpstream(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	tests := []struct {
		name, url string
		want      error // nil: any error
	}{
		{"no scheme", "127.0.0.1:5000", errdefs.ErrInvalidArgument},
		{"other scheme", "ftp://127.0.0.1:5000", errdefs.ErrInvalidArgument},
		{"path", "http://127.0.0.1:5000/v2", errdefs.ErrInvalidArgument},
		{"user info", "http://u:p@127.0.0.1:5000", errdefs.ErrInvalidArgument},
		{"unreachable", down, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := New(t.Context(), WithPullThrough(tt.url))
			if err == nil {
				r.Close()
				t.Fatalf("New(WithPullThrough(%q)) succeeded", tt.url)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
