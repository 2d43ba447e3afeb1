package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

// One budget covers a Download: the request whose body broke off midway,
// the resume, and the client's retries of the resume's 503s add up to the
// client's attempts, and the error says how many were sent.
func TestDownloadResumesShareOneBudget(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("z"), 4096)
	desc := blobDesc(content)
	var gets counter
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		if gets.hit() == 1 {
			// Half the body, then the connection drops.
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.Write(content[:len(content)/2])
			w.(http.Flusher).Flush()
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := newTestClient(t, WithRetry(5, time.Millisecond))
	var pauses counter
	dl := c.BlobDownload(refOn(t, srv, "repo:tag"), desc, OnRetry(func(time.Duration) { pauses.hit() }))
	ctx := context.Background()
	rc, _, err := dl.Open(ctx, 0)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("body: %d bytes, %v; want a broken body", n, err)
	}
	if err := dl.Retry(ctx, err); err != nil {
		t.Fatalf("Retry after the first request: %v", err)
	}
	_, _, err = dl.Open(ctx, n)
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "gave up after 5 requests") {
		t.Fatalf("resume: %v; want a 503 after 5 requests in all", err)
	}
	if got := gets.get(); got != 5 {
		t.Errorf("registry saw %d blob requests, want 5", got)
	}
	if got := pauses.get(); got != 4 {
		t.Errorf("OnRetry told %d pauses, want 4", got)
	}
	if err := dl.Retry(ctx, err); err == nil {
		t.Error("Retry after the budget was spent allowed another request")
	}
	if err := dl.Restart(errdefs.ErrDigestMismatch); err == nil {
		t.Error("Restart after the budget was spent allowed another request")
	}
}

// Retry leaves permanent failures alone, and NoRetry forbids retries of a
// Download as of its requests.
func TestDownloadRetryRefuses(t *testing.T) {
	t.Parallel()
	content := []byte("abc")
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) { w.Write(content) })
	c := newTestClient(t, WithRetry(5, time.Millisecond))
	dl := c.BlobDownload(refOn(t, srv, "repo:tag"), blobDesc(content))
	bad := errors.Join(errors.New("size"), errdefs.ErrSizeMismatch)
	if err := dl.Retry(context.Background(), bad); err != bad {
		t.Errorf("Retry(permanent) = %v, want it unchanged", err)
	}
	transient := errors.Join(errors.New("reset"), errdefs.ErrUnavailable)
	if err := dl.Retry(NoRetry(context.Background()), transient); err == nil {
		t.Error("Retry under NoRetry allowed another request")
	}
}
