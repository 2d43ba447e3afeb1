package pull_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/faultproxy"
)

// blobGetsOf is a fault that answers nothing itself but counts the blob
// GETs for d that cross the proxy ahead of the faults queued after it.
func blobGetsOf(d digest.Digest, n *atomic.Int32) *faultproxy.Fault {
	return &faultproxy.Fault{Kind: faultproxy.Blob, Match: func(r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			n.Add(1)
		}
		return false
	}}
}

func forBlob(d digest.Digest, f *faultproxy.Fault) *faultproxy.Fault {
	f.Match = func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) }
	return f
}

// A blob that answers 503 for good costs at most the client's attempts (5
// by default) requests, a resume after a body that broke off midway
// included, and the error says how many were sent.
func TestBlobRetryBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		faults func(d digest.Digest) []*faultproxy.Fault
	}{
		{"503 forever", func(d digest.Digest) []*faultproxy.Fault {
			return []*faultproxy.Fault{forBlob(d, faultproxy.Status(faultproxy.Blob, 0, 503))}
		}},
		{"reset midway, then 503 forever", func(d digest.Digest) []*faultproxy.Fault {
			return []*faultproxy.Fault{
				forBlob(d, faultproxy.Reset(faultproxy.Blob, 1, faultLayerSize/2)),
				forBlob(d, faultproxy.Status(faultproxy.Blob, 0, 503)),
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The default policy's 5 attempts, with a short base delay.
			e := newFaultEnv(t, nil, registry.WithRetry(5, time.Millisecond))
			bad := e.img.Layers[1].Digest
			var gets atomic.Int32
			e.proxy.Inject(blobGetsOf(bad, &gets))
			e.proxy.Inject(tc.faults(bad)...)
			_, err := e.puller.Pull(context.Background(), e.ref)
			if !errors.Is(err, errdefs.ErrUnavailable) {
				t.Fatalf("got %v, want unavailable", err)
			}
			if n := gets.Load(); n != 5 {
				t.Errorf("%d GETs for the failing blob, want 5", n)
			}
			if !strings.Contains(err.Error(), "gave up after 5 requests") || strings.Contains(err.Error(), "attempts") {
				t.Errorf("error %q does not say the 5 requests sent", err)
			}
			verifyStore(t, e.store)
		})
	}
}

// A mirror that keeps failing a blob gets one budget, then the pull hands
// over to the registry, which gets its own and serves the blob at once.
func TestBlobRetryBudgetPerEndpoint(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, nil, registry.WithRetry(5, time.Millisecond))
	mirror := faultproxy.Start(t, e.reg.URL)
	bad := e.img.Layers[0].Digest
	var atMirror, atRegistry atomic.Int32
	mirror.Inject(blobGetsOf(bad, &atMirror), forBlob(bad, faultproxy.Status(faultproxy.Blob, 0, 503)))
	e.proxy.Inject(blobGetsOf(bad, &atRegistry))
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := pull.New(e.client, st, pull.WithEndpoints(func(string) ([]pull.Endpoint, error) {
		return []pull.Endpoint{{Host: mirror.Host}, {Host: e.proxy.Host}}, nil
	}))
	if _, err := p.Pull(context.Background(), e.ref); err != nil {
		t.Fatalf("pull with a failing mirror: %v", err)
	}
	if a, r := atMirror.Load(), atRegistry.Load(); a != 5 || r != 1 {
		t.Errorf("GETs for the blob: %d at the mirror, %d at the registry; want 5 and 1", a, r)
	}
	verifyStore(t, st)
}
