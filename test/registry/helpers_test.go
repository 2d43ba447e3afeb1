package registry_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// newTestClient builds a client with fast retries; opts override.
func newTestClient(t *testing.T, opts ...registry.Option) *registry.Client {
	t.Helper()
	c, err := registry.New(append([]registry.Option{registry.WithRetry(3, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func refOnHost(t *testing.T, host, rest string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(host + "/" + rest)
	if err != nil {
		t.Fatalf("parse reference: %v", err)
	}
	return r
}

func refOn(t *testing.T, srv *httptest.Server, rest string) reference.Reference {
	t.Helper()
	return refOnHost(t, srv.Listener.Addr().String(), rest)
}

func blobDesc(content []byte) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    digest.FromBytes(content),
		Size:      int64(len(content)),
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func lastSegment(p string) string { return p[strings.LastIndex(p, "/")+1:] }
