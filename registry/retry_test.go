package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

func TestRetryStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		status       int
		retryAfter   string
		okAfter      int32 // succeed from this attempt on; 0 = never
		wantAttempts int32
		wantErr      error
		wantMsg      string
		minElapsed   time.Duration
	}{
		{name: "503 exhausts attempts", status: 503, wantAttempts: 3, wantErr: errdefs.ErrUnavailable, wantMsg: "gave up after 3 requests"},
		{name: "503 then success", status: 503, okAfter: 3, wantAttempts: 3},
		{name: "429 honours Retry-After", status: 429, retryAfter: "1", okAfter: 2, wantAttempts: 2, minElapsed: time.Second},
		{name: "429 Retry-After too long", status: 429, retryAfter: "120", wantAttempts: 1, wantErr: errdefs.ErrUnavailable, wantMsg: "retry after 2m0s"},
		{name: "404 not retried", status: 404, wantAttempts: 1, wantErr: errdefs.ErrNotFound},
		{name: "403 not retried", status: 403, wantAttempts: 1, wantErr: errdefs.ErrDenied},
		{name: "400 not retried", status: 400, wantAttempts: 1, wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var attempts counter
			srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				if n := attempts.hit(); tt.okAfter > 0 && n >= tt.okAfter {
					w.Write([]byte("{}"))
					return
				}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
			})
			c := newTestClient(t) // 3 attempts, 1ms base
			began := time.Now()
			_, err := c.GetManifest(context.Background(), refOn(t, srv, "repo:tag"), nil)
			if got := attempts.get(); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("GetManifest: %v", err)
				}
			} else if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
			if err != nil && !strings.Contains(err.Error(), hostOf(srv)) {
				t.Errorf("error %q does not name the host", err)
			}
			if d := time.Since(began); d < tt.minElapsed {
				t.Errorf("finished after %s, want at least %s", d, tt.minElapsed)
			}
		})
	}
}

func TestRetryNetworkErrors(t *testing.T) {
	t.Parallel()
	var attempts counter
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		if attempts.hit() < 3 {
			// Drop the connection before any response: EOF before headers.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte("{}"))
	})
	c := newTestClient(t)
	if _, err := c.GetManifest(context.Background(), refOn(t, srv, "repo:tag"), nil); err != nil {
		t.Fatalf("GetManifest after two dropped connections: %v", err)
	}
	if got := attempts.get(); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
}

func TestRetryHeaderTimeout(t *testing.T) {
	t.Parallel()
	var attempts counter
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		attempts.hit()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	// The ping before the GET must beat the timeout even on a loaded machine.
	c := newTestClient(t, WithRetry(2, time.Millisecond), WithStallTimeout(time.Second))
	_, err := c.GetManifest(context.Background(), refOn(t, srv, "repo:tag"), nil)
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "no response within") {
		t.Fatalf("err = %v, want a header timeout wrapping ErrUnavailable", err)
	}
	if got := attempts.get(); got != 2 {
		t.Errorf("attempts = %d, want 2", got)
	}
}

func TestRetryStopsOnCancel(t *testing.T) {
	t.Parallel()
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := newTestClient(t, WithRetry(5, time.Millisecond))
	ref := refOn(t, srv, "repo:tag")
	if err := c.Ping(context.Background(), ref.Host()); err != nil {
		t.Fatal(err)
	}
	// Whether the deadline ends the request or the Retry-After wait, the
	// error is the context's; anything well under the 30 s Retry-After
	// shows the wait was cut short.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := c.GetManifest(ctx, ref, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("returned %s after the context ended", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in    string
		want  time.Duration
		given bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 30 ", 30 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, given := parseRetryAfter(tt.in, now)
		if got != tt.want || given != tt.given {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, given, tt.want, tt.given)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "x"} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, given := parseRetryAfter(s, now)
		if d < 0 || (!given && d != 0) {
			t.Errorf("parseRetryAfter(%q) = %s, %v", s, d, given)
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt := range 40 {
		ceiling := min(maxBackoff, 200*time.Millisecond<<min(attempt, 30))
		for range 20 {
			if d := backoff(200*time.Millisecond, attempt); d < 0 || d >= ceiling {
				t.Fatalf("backoff(200ms, %d) = %s, want in [0, %s)", attempt, d, ceiling)
			}
		}
	}
	if d := backoff(0, 3); d != 0 {
		t.Errorf("backoff with zero base = %s", d)
	}
}

func TestNoRetryTriesOnce(t *testing.T) {
	t.Parallel()
	var attempts counter
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		attempts.hit()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := newTestClient(t)
	_, err := c.GetManifest(NoRetry(context.Background()), refOn(t, srv, "repo:tag"), nil)
	if !errors.Is(err, errdefs.ErrUnavailable) || attempts.get() != 1 {
		t.Fatalf("err %v after %d attempts, want one attempt", err, attempts.get())
	}
}
