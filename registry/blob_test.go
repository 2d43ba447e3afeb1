package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

func TestOpenBlob(t *testing.T) {
	t.Parallel()
	content := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	desc := blobDesc(content)
	size := len(content)

	tests := []struct {
		name      string
		offset    int64
		serve     func(w http.ResponseWriter, r *http.Request)
		wantStart int64
		wantBody  []byte
		openErr   error   // from OpenBlob
		readErr   []error // from reading the body; all must match
	}{
		{
			name:     "whole blob",
			serve:    func(w http.ResponseWriter, r *http.Request) { w.Write(content) },
			wantBody: content,
		},
		{
			name:   "range honoured",
			offset: 10,
			serve: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Range") != "bytes=10-" {
					http.Error(w, "no range", http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 10-%d/%d", size-1, size))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(content[10:])
			},
			wantStart: 10,
			wantBody:  content[10:],
		},
		{
			name:     "range ignored",
			offset:   10,
			serve:    func(w http.ResponseWriter, r *http.Request) { w.Write(content) },
			wantBody: content,
		},
		{
			name:   "wrong content-range",
			offset: 10,
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", size-1, size))
				w.WriteHeader(http.StatusPartialContent)
				w.Write(content)
			},
			openErr: errdefs.ErrInvalidArgument,
		},
		{
			name:   "missing content-range",
			offset: 10,
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusPartialContent)
				w.Write(content[10:])
			},
			openErr: errdefs.ErrInvalidArgument,
		},
		{
			name:    "too long by content-length",
			serve:   func(w http.ResponseWriter, r *http.Request) { w.Write(append(content, 'X')) },
			openErr: errdefs.ErrSizeMismatch,
		},
		{
			name: "too long chunked",
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Write(content)
				w.(http.Flusher).Flush()
				w.Write([]byte("extra"))
			},
			readErr: []error{errdefs.ErrSizeMismatch},
		},
		{
			name: "truncated below content-length",
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(size))
				w.Write(content[:size/2])
			},
			readErr: []error{io.ErrUnexpectedEOF, errdefs.ErrUnavailable},
		},
		{
			name: "truncated chunked",
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.(http.Flusher).Flush()
				w.Write(content[:size/2])
			},
			readErr: []error{io.ErrUnexpectedEOF, errdefs.ErrUnavailable},
		},
		{
			name: "not found",
			serve: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`))
			},
			openErr: errdefs.ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v2/repo/blobs/"+desc.Digest.String() {
					w.WriteHeader(http.StatusNotFound)
					return
				}
				if r.Header.Get("Accept-Encoding") != "identity" {
					http.Error(w, "blob requested with compression", http.StatusBadRequest)
					return
				}
				tt.serve(w, r)
			})
			c := newTestClient(t)
			rc, start, err := c.OpenBlob(context.Background(), refOn(t, srv, "repo:tag"), desc, tt.offset)
			if tt.openErr != nil {
				if !errors.Is(err, tt.openErr) {
					t.Fatalf("OpenBlob err = %v, want %v", err, tt.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenBlob: %v", err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if len(tt.readErr) > 0 {
				for _, want := range tt.readErr {
					if !errors.Is(err, want) {
						t.Errorf("read err = %v, want %v", err, want)
					}
				}
				if err != nil && !strings.Contains(err.Error(), desc.Digest.String()) {
					t.Errorf("read error does not name the blob: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if start != tt.wantStart || !bytes.Equal(got, tt.wantBody) {
				t.Errorf("start %d body %q, want %d %q", start, got, tt.wantStart, tt.wantBody)
			}
		})
	}
}

func TestOpenBlobArguments(t *testing.T) {
	t.Parallel()
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
	})
	c := newTestClient(t)
	desc := blobDesc([]byte("abc"))
	ref := refOn(t, srv, "repo:tag")
	for _, off := range []int64{-1, 4} {
		if _, _, err := c.OpenBlob(context.Background(), ref, desc, off); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("offset %d: err = %v, want ErrInvalidArgument", off, err)
		}
	}
	bad := desc
	bad.Digest = "sha256:nothex"
	if _, _, err := c.OpenBlob(context.Background(), ref, bad, 0); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad digest: err = %v, want ErrInvalidArgument", err)
	}
	// Fully downloaded already: nothing to fetch, no request.
	rc, start, err := c.OpenBlob(context.Background(), ref, desc, 3)
	if err != nil || start != 3 {
		t.Fatalf("OpenBlob at end = %d, %v", start, err)
	}
	if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
		t.Errorf("body at end = %q, %v", b, err)
	}
}

func TestOpenBlobStall(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("x"), 1000)
	desc := blobDesc(content)
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.Write(content[:100])
		w.(http.Flusher).Flush()
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	// The stall timeout also bounds the wait for headers and the first
	// 100 bytes, so it must be long for a loaded machine under -race.
	c := newTestClient(t, WithStallTimeout(time.Second))
	rc, _, err := c.OpenBlob(context.Background(), refOn(t, srv, "repo:tag"), desc, 0)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	defer rc.Close()
	began := time.Now()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("read = %d, %v; want a stall error wrapping ErrUnavailable", n, err)
	}
	if n != 100 {
		t.Errorf("read %d bytes before the stall, want 100", n)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("stall detected after %s", d)
	}
}

// A slow consumer is not a stall: the clock runs only inside Read.
func TestOpenBlobSlowConsumer(t *testing.T) {
	t.Parallel()
	content := bytes.Repeat([]byte("y"), 64<<10)
	desc := blobDesc(content)
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) { w.Write(content) })
	// The timeout covers the headers and every read, which a loaded machine
	// under -race may delay; the pause only has to outlast it, since a
	// timer never fires early.
	const stall = time.Second
	c := newTestClient(t, WithStallTimeout(stall))
	rc, _, err := c.OpenBlob(context.Background(), refOn(t, srv, "repo:tag"), desc, 0)
	if err != nil {
		t.Fatalf("OpenBlob: %v", err)
	}
	defer rc.Close()
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(stall + stall/2)
	rest, err := io.ReadAll(rc)
	if err != nil || len(rest) != len(content)-len(buf) {
		t.Errorf("after pause: read %d bytes, %v", len(rest), err)
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 10-35/36", 10, 35, 36, true},
		{"bytes 0-0/1", 0, 0, 1, true},
		{"bytes 10-35/*", 0, 0, 0, false},
		{"bytes */36", 0, 0, 0, false},
		{"bytes 10-36/36", 0, 0, 0, false},
		{"bytes 11-10/36", 0, 0, 0, false},
		{"bytes -1-35/36", 0, 0, 0, false},
		{"bytes +1-35/36", 0, 0, 0, false},
		{"items 10-35/36", 0, 0, 0, false},
		{"bytes 10-35/99999999999999999999", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tt := range tests {
		first, last, total, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (first != tt.first || last != tt.last || total != tt.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", tt.in, first, last, total, err)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-9/*", "bytes */10", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if first < 0 || first > last || last >= total {
			t.Errorf("parseContentRange(%q) accepted inconsistent %d-%d/%d", s, first, last, total)
		}
		canonical := fmt.Sprintf("bytes %d-%d/%d", first, last, total)
		f2, l2, t2, err := parseContentRange(canonical)
		if err != nil || f2 != first || l2 != last || t2 != total {
			t.Errorf("parseContentRange(%q) does not round-trip through %q", s, canonical)
		}
	})
}
