package registry

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/reference"
)

// newTestClient builds a client with fast retries; opts override.
func newTestClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(append([]Option{WithRetry(3, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// fakeRegistry is a plain-HTTP loopback server answering /v2/ with 200 and
// everything else with handler.
func fakeRegistry(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func hostOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }

func refOn(t *testing.T, srv *httptest.Server, rest string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(hostOf(srv) + "/" + rest)
	if err != nil {
		t.Fatalf("parse reference: %v", err)
	}
	return r
}

func blobDesc(content []byte) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    digest.FromBytes(content),
		Size:      int64(len(content)),
	}
}

// counter counts requests to a path.
type counter struct{ n atomic.Int32 }

func (c *counter) hit() int32 { return c.n.Add(1) }
func (c *counter) get() int32 { return c.n.Load() }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// quietLog silences servers whose failed handshakes a test provokes.
var quietLog = log.New(io.Discard, "", 0)
