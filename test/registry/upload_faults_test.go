package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// method narrows a fault to requests with method m.
func method(m string, f *faultproxy.Fault) *faultproxy.Fault {
	f.Match = func(r *http.Request) bool { return r.Method == m }
	return f
}

// faultyUpload is a registry behind a fault proxy, a client with 3
// attempts per operation, and a blob of 1 MiB to push through the proxy in
// chunks of 384 KiB (3 PATCHes and a closing PUT).
type faultyUpload struct {
	reg   *testregistry.Registry
	proxy *faultproxy.Proxy
	c     *registry.Client
	data  []byte
}

func newFaultyUpload(t *testing.T) *faultyUpload {
	t.Helper()
	reg := testregistry.Start(t)
	data, _ := randomBlob(3, 1<<20)
	return &faultyUpload{reg: reg, proxy: faultproxy.Start(t, reg.URL), c: newTestClient(t), data: data}
}

func (f *faultyUpload) push(t *testing.T, opts ...registry.UploadOption) (registry.BlobPush, error) {
	t.Helper()
	opts = append([]registry.UploadOption{registry.ChunkThreshold(0), registry.ChunkSize(384 << 10)}, opts...)
	return f.c.PushBlob(context.Background(), refOnHost(t, f.proxy.Host, "faulty/blob"), blobDesc(f.data),
		registry.ReaderAtSource(bytes.NewReader(f.data)), opts...)
}

// A chunk cut off midway (the connection reset after part of it reached
// the registry) resumes from the offset the registry reports: the registry
// receives every byte once.
func TestPushBlobResumesFromRegistryOffset(t *testing.T) {
	t.Parallel()
	f := newFaultyUpload(t)
	f.proxy.Inject(method(http.MethodPatch, &faultproxy.Fault{Times: 1})) // the first chunk goes through
	f.proxy.Inject(faultproxy.CutUpload(1, 100<<10))
	if got, err := f.push(t); err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	reqs, received := uploads(f.reg)
	if received != int64(len(f.data)) {
		t.Errorf("the registry received %d bytes for a blob of %d: %+v", received, len(f.data), reqs)
	}
	// The cut chunk left the registry at 384 KiB + what arrived of it; the
	// next PATCH starts exactly there, after a GET of the session.
	cut := reqs[1]
	if cut.Status < 400 || cut.BodyBytes == 0 || cut.BodyBytes >= 384<<10 {
		t.Fatalf("the second PATCH was not cut midway: %+v", cut)
	}
	want := (384 << 10) + cut.BodyBytes
	if !strings.HasPrefix(reqs[2].ContentRange, itoa(want)+"-") {
		t.Errorf("resumed with Content-Range %q, want it to start at the registry's %d", reqs[2].ContentRange, want)
	}
	if n := f.proxy.Count(http.MethodGet, "/blobs/uploads/"+lastSegment(cut.Path)); n != 1 {
		t.Errorf("asked the session for its offset %d times, want 1", n)
	}
	readBack(t, f.c, regRef(t, f.reg, "faulty/blob"), blobDesc(f.data), f.data)
}

// Chunks that are cut every time spend the blob's budget: 3 failed
// PATCHes, then a one-line error saying how many requests were sent.
func TestPushBlobGivesUpAfterBudget(t *testing.T) {
	t.Parallel()
	f := newFaultyUpload(t)
	f.proxy.Inject(faultproxy.CutUpload(0, 10<<10))
	_, err := f.push(t)
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "gave up after") ||
		!strings.Contains(err.Error(), "push blob "+blobDesc(f.data).Digest.String()) {
		t.Fatalf("err = %v, want a push that gave up", err)
	}
	if n := f.proxy.Count(http.MethodPatch, ""); n != 3 {
		t.Errorf("sent %d PATCHes, want the budget's 3", n)
	}
}

// A 503 that a front end answers in place of the registry's 201 (the blob
// was committed): one HEAD finds the blob and the push is done.
func TestPushBlobClosingPUTAnswerLost(t *testing.T) {
	t.Parallel()
	f := newFaultyUpload(t)
	f.proxy.Inject(method(http.MethodPut, faultproxy.Status(faultproxy.Blob, 0, http.StatusServiceUnavailable)))
	if got, err := f.push(t); err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	if puts, heads := f.proxy.Count(http.MethodPut, ""), f.proxy.Count(http.MethodHead, ""); puts != 1 || heads != 2 {
		t.Errorf("sent %d PUTs and %d HEADs, want 1 and 2 (before, and after the lost answer)", puts, heads)
	}
}

// A closing PUT refused with 503 every time (the registry never sees it)
// is sent as often as the budget allows, the chunks once.
func TestPushBlobPUT503Budget(t *testing.T) {
	t.Parallel()
	f := newFaultyUpload(t)
	f.proxy.Inject(method(http.MethodPut, faultproxy.Refuse(faultproxy.Blob, 0, http.StatusServiceUnavailable, 0)))
	_, err := f.push(t)
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the 503 after the budget", err)
	}
	if puts, patches := f.proxy.Count(http.MethodPut, ""), f.proxy.Count(http.MethodPatch, ""); puts != 3 || patches != 3 {
		t.Errorf("sent %d PUTs and %d PATCHes, want 3 (the budget) and 3 (each chunk once)", puts, patches)
	}
	if _, received := uploads(f.reg); received != int64(len(f.data)) {
		t.Errorf("the registry received %d bytes, want %d", received, len(f.data))
	}
}

// A 429 with Retry-After on a chunk: the upload waits as told, and goes on
// from where the registry stands.
func TestPushBlob429RetryAfter(t *testing.T) {
	t.Parallel()
	f := newFaultyUpload(t)
	f.proxy.Inject(method(http.MethodPatch, &faultproxy.Fault{Times: 1}))
	f.proxy.Inject(method(http.MethodPatch, faultproxy.Refuse(faultproxy.Blob, 1, http.StatusTooManyRequests, 1)))
	var waits []time.Duration
	began := time.Now()
	got, err := f.push(t, registry.OnUploadRetry(func(d time.Duration) { waits = append(waits, d) }))
	if err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	if time.Since(began) < time.Second || len(waits) != 1 || waits[0] != time.Second {
		t.Errorf("waited %v (told %v), want the Retry-After of 1s", time.Since(began), waits)
	}
	if n := f.proxy.Count(http.MethodPatch, ""); n != 4 {
		t.Errorf("sent %d PATCHes, want 4 (3 chunks, one refused)", n)
	}
	if _, received := uploads(f.reg); received != int64(len(f.data)) {
		t.Errorf("the registry received %d bytes, want %d", received, len(f.data))
	}
}

// A blob sent in one PUT that fails with a reset is sent again from where
// the registry stands.
func TestPushBlobMonolithicReset(t *testing.T) {
	t.Parallel()
	f := newFaultyUpload(t)
	f.proxy.Inject(faultproxy.CutUpload(1, 200<<10))
	if got, err := f.push(t, registry.ChunkThreshold(4<<20)); err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	reqs, received := uploads(f.reg)
	if received != int64(len(f.data)) || reqs[0].Method != http.MethodPut {
		t.Errorf("the registry received %d bytes for %d: %+v", received, len(f.data), reqs)
	}
}

// A registry asked where a cut-off session stands before it has stored
// what arrived of the chunk answers with the old offset, then refuses a
// chunk from there (416): asked again, it says where it stands, and the
// upload goes on from there instead of starting over. The registry
// receives every byte once.
func TestPushBlobAsksAgainAfterARefusedOffset(t *testing.T) {
	t.Parallel()
	f := newFaultyUpload(t)
	f.proxy.Inject(method(http.MethodPatch, &faultproxy.Fault{Times: 1})) // the first chunk goes through
	f.proxy.Inject(faultproxy.CutUpload(1, 100<<10))
	f.proxy.Inject(&faultproxy.Fault{Times: 1, // the first look at the session is stale
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/uploads/")
		},
		Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, _ *faultproxy.Proxy) {
			up.Body.Close()
			w.Header().Set("Range", fmt.Sprintf("0-%d", 384<<10-1))
			w.WriteHeader(http.StatusNoContent)
		},
	})
	if got, err := f.push(t); err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	reqs, received := uploads(f.reg)
	if received != int64(len(f.data)) {
		t.Errorf("the registry received %d bytes for a blob of %d (started over?): %+v", received, len(f.data), reqs)
	}
	readBack(t, f.c, regRef(t, f.reg, "faulty/blob"), blobDesc(f.data), f.data)
}
