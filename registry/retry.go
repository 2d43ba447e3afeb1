package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imagec/imagec/errdefs"
)

// maxRetryAfter is the longest Retry-After imagec waits out; a registry
// asking for more is treated as down rather than stalling a pull.
const maxRetryAfter = 60 * time.Second

// attemptFunc performs one try of an exchange.
type attemptFunc func(ctx context.Context) (*http.Response, error)

// budget is the one retry policy's account of one operation: a manifest
// fetch, a ping, one blob from one endpoint, resumes included, or one
// blob's upload to one repository. Every request sent spends one of max
// (an upload's requests that succeed are given back, see progressed); when
// none is left, or the failure is not transient, the operation gives up
// with the last failure and the number of requests really sent. The parts
// of a multipart download spend from one budget at once, under mu.
type budget struct {
	mu      *sync.Mutex // the parts of a multipart download share one budget
	max     int
	sent    int
	onRetry func(delay time.Duration) // told before each wait; may be nil
}

func (c *Client) newBudget() budget { return budget{mu: new(sync.Mutex), max: c.opts.attempts} }

// take spends one request, reporting false when none is left.
func (b *budget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sent >= b.max {
		return false
	}
	b.sent++
	return true
}

// progressed gives back the request just sent, which moved an operation of
// many steps forward: an upload (or a multipart download) is charged only
// for the requests that failed, so a large blob's many chunks cannot use up
// its budget, while a blob that keeps failing still gives up after max
// failed requests.
func (b *budget) progressed() {
	b.mu.Lock()
	b.max++
	b.mu.Unlock()
}

// spent reports whether no request is left, and how many were sent.
func (b *budget) spent() (bool, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent >= b.max, b.sent
}

// gaveUp is err as the operation's final failure, saying how many requests
// were sent when there was more than one.
func (b *budget) gaveUp(err error) error {
	_, sent := b.spent()
	if sent <= 1 {
		return err
	}
	return fmt.Errorf("%w (gave up after %d requests)", err, sent)
}

// retry runs try until it yields a response whose status ok accepts, a
// permanent failure, or b runs out. Network errors, 429 and 5xx are
// retried (see wait). A returned response is the caller's to close.
func (c *Client) retry(ctx context.Context, host string, b *budget, ok func(status int) bool, try attemptFunc) (*http.Response, error) {
	var lastErr error
	for {
		if !b.take() {
			if lastErr == nil {
				lastErr = fmt.Errorf("registry %s: no request left to send: %w", host, errdefs.ErrUnavailable)
			}
			return nil, b.gaveUp(lastErr)
		}
		var retryAfter string
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
			lastErr, retryAfter = regErr, resp.Header.Get("Retry-After")
		}
		if err := c.wait(ctx, host, b, lastErr, retryAfter); err != nil {
			return nil, err
		}
	}
}

// wait is the retry policy between two requests of one operation, after the
// transient failure lastErr: it returns nil once the next request may go, or
// the error to give up with when b is spent, ctx forbids retries (NoRetry) or
// ends, or the registry asks for a longer pause than imagec waits. The pause
// is the registry's Retry-After when given, else exponential backoff with
// full jitter from the client's base delay.
func (c *Client) wait(ctx context.Context, host string, b *budget, lastErr error, retryAfter string) error {
	done, sent := b.spent()
	if done || ctx.Value(noRetryKey{}) != nil {
		return b.gaveUp(lastErr)
	}
	delay := backoff(c.opts.baseDelay, sent-1)
	if wait, given := parseRetryAfter(retryAfter, time.Now()); given {
		if wait > maxRetryAfter {
			return fmt.Errorf("registry %s asks to retry after %s, longer than the %s imagec waits: %w",
				host, wait.Round(time.Second), maxRetryAfter, lastErr)
		}
		delay = wait
	}
	if b.onRetry != nil {
		b.onRetry(delay)
	}
	if err := sleep(ctx, delay); err != nil {
		return fmt.Errorf("registry %s: waiting to retry after %v: %w", host, lastErr, err)
	}
	return nil
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

// NoRetry marks ctx so that requests made with it are tried once, and a
// Download used with it is not retried: for a mirror, where a failure should
// hand over to the next endpoint at once rather than after a round of
// backoff.
func NoRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetryKey{}, true)
}
