package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter is the longest Retry-After imagec waits out; a registry
// asking for more is treated as down rather than stalling a pull.
const maxRetryAfter = 60 * time.Second

// attemptFunc performs one try of an exchange.
type attemptFunc func(ctx context.Context) (*http.Response, error)

// retry runs try until it yields a response whose status ok accepts, a
// permanent failure, or attempts run out. Network errors, 429 and 5xx are
// retried with exponential backoff and full jitter, or after Retry-After.
// A returned response is the caller's to close.
func (c *Client) retry(ctx context.Context, host string, ok func(status int) bool, try attemptFunc) (*http.Response, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		delay := backoff(c.opts.baseDelay, attempt)
		resp, err := try(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("registry %s: %w", host, context.Cause(ctx))
			}
			var again bool
			if lastErr, again = classify(host, err); !again {
				return nil, lastErr
			}
		} else {
			if ok(resp.StatusCode) {
				return resp, nil
			}
			regErr := responseError(resp)
			if !retryableStatus(resp.StatusCode) {
				return nil, regErr
			}
			lastErr = regErr
			if wait, given := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); given {
				if wait > maxRetryAfter {
					return nil, fmt.Errorf("registry %s asks to retry after %s, longer than the %s imagec waits: %w",
						host, wait.Round(time.Second), maxRetryAfter, regErr)
				}
				delay = wait
			}
		}
		if attempt+1 >= c.opts.attempts || ctx.Value(noRetryKey{}) != nil {
			if c.opts.attempts == 1 {
				return nil, lastErr
			}
			return nil, fmt.Errorf("%w (gave up after %d attempts)", lastErr, c.opts.attempts)
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("registry %s: waiting to retry after %v: %w", host, lastErr, err)
		}
	}
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// backoff is a uniformly random delay in [0, min(10s, base*2^attempt)), which
// spreads out clients that failed together.
func backoff(base time.Duration, attempt int) time.Duration {
	ceiling := maxBackoff
	if attempt < 30 && base < maxBackoff>>attempt {
		ceiling = base << attempt
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// parseRetryAfter reads a Retry-After value, either delay-seconds or an
// HTTP-date; given is false when the header is absent or malformed.
func parseRetryAfter(v string, now time.Time) (wait time.Duration, given bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if strings.TrimLeft(v, "0123456789") == "" {
		const day = 24 * time.Hour
		// Clamp absurd values (far beyond the cap anyway) before they
		// overflow a Duration.
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > uint64(day/time.Second) {
			return day, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

type noRetryKey struct{}

// NoRetry marks ctx so that requests made with it are tried once: for a
// mirror, where a failure should hand over to the next endpoint at once
// rather than after a round of backoff.
func NoRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}
