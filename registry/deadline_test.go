package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

// trickle writes body one byte per interval, flushing each, until done or
// the client goes away.
func trickle(w http.ResponseWriter, r *http.Request, body []byte, interval time.Duration) {
	for i := range body {
		if _, err := w.Write(body[i : i+1]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(interval):
		}
	}
}

const testDeadline = 400 * time.Millisecond

// Small bodies (manifests, error bodies, token responses) are held to an
// overall deadline: a registry that trickles them one byte at a time,
// never stalling, fails the request after the deadline, once per request
// of the retry budget, instead of holding the client for as long as the
// trickle lasts (minutes here, days in the wild).
func TestSmallBodyDeadline(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("m"), 100<<10)
	tests := []struct {
		name  string
		serve func(t *testing.T, w http.ResponseWriter, r *http.Request)
		do    func(ctx context.Context, c *Client, srv *httptest.Server) error
	}{
		{"manifest body", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			trickle(w, r, big, 10*time.Millisecond)
		}, func(ctx context.Context, c *Client, srv *httptest.Server) error {
			_, err := c.GetManifest(ctx, refOn(t, srv, "repo:tag"), nil)
			return err
		}},
		{"blob error body", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			trickle(w, r, bytes.Repeat([]byte(" "), maxErrorBody), 10*time.Millisecond)
		}, func(ctx context.Context, c *Client, srv *httptest.Server) error {
			rc, _, err := c.OpenBlob(ctx, refOn(t, srv, "repo:tag"), blobDesc([]byte("x")), 0)
			if err == nil {
				rc.Close()
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var requests counter
			srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				requests.hit()
				tt.serve(t, w, r)
			})
			c := newTestClient(t, WithRetry(2, time.Millisecond), WithSmallBodyDeadline(testDeadline))
			// Without the deadline the trickle would outlast this context.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := tt.do(ctx, c, srv)
			if ctx.Err() != nil {
				t.Fatalf("still waiting after 30s: %v", err)
			}
			if !errors.Is(err, errdefs.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if got := requests.get(); got != 2 {
				t.Errorf("%d requests, want the budget's 2", got)
			}
		})
	}
}

// A token server trickling its answer is held to the same deadline.
func TestTokenBodyDeadline(t *testing.T) {
	t.Parallel()
	var tokenReqs counter
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenReqs.hit()
		trickle(w, r, []byte(`{"token":"`+strings.Repeat("t", 10<<10)+`"}`), 10*time.Millisecond)
	}))
	t.Cleanup(tokens.Close)
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="s"`, tokens.URL))
		w.WriteHeader(http.StatusUnauthorized)
	})
	c := newTestClient(t, WithRetry(2, time.Millisecond), WithSmallBodyDeadline(testDeadline))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.GetManifest(ctx, refOn(t, srv, "repo:tag"), nil)
	if ctx.Err() != nil {
		t.Fatalf("still waiting after 30s: %v", err)
	}
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if n := tokenReqs.get(); n < 1 || n > 2 {
		t.Errorf("%d token requests, want 1 or 2", n)
	}
}

// A blob's content keeps the stall-only rule: a download slower than the
// deadline that keeps moving completes; the same bytes as a small body (an
// image config, SmallBody) are cut off at the deadline.
func TestBlobContentHasNoDeadline(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("b"), 40) // 40 x 30ms: 3x the deadline
	desc := blobDesc(content)
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		trickle(w, r, content, 30*time.Millisecond)
	})
	c := newTestClient(t, WithRetry(1, time.Millisecond), WithSmallBodyDeadline(testDeadline))
	ctx := context.Background()
	read := func(opts ...DownloadOption) ([]byte, error) {
		rc, _, err := c.BlobDownload(refOn(t, srv, "repo:tag"), desc, opts...).Open(ctx, 0)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	began := time.Now()
	got, err := read()
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("blob: %q, %v; want it whole", got, err)
	}
	if d := time.Since(began); d < testDeadline {
		t.Fatalf("the trickle took %s, not longer than the deadline: the test proves nothing", d)
	}
	if _, err := read(SmallBody()); !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "not complete within") {
		t.Fatalf("small body: %v, want cut off at the deadline", err)
	}
}
