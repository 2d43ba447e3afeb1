package faultproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reset sends n body bytes, then resets the connection.
func Reset(k Kind, times int, n int64) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, p *Proxy) {
		p.Abort(w, up, n, true)
	}}
}

// Truncate sends n body bytes of a response that promised more, then closes.
func Truncate(k Kind, times int, n int64) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, p *Proxy) {
		p.Abort(w, up, n, false)
	}}
}

// Longer sends the body followed by extra bytes, without a Content-Length.
func Longer(k Kind, times int, extra int) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, p *Proxy) {
		up.Header.Del("Content-Length")
		p.Relay(w, up, io.MultiReader(up.Body, bytes.NewReader(bytes.Repeat([]byte{'x'}, extra))))
	}}
}

// ContentLength declares a Content-Length off by delta from the real body.
func ContentLength(k Kind, times int, delta int64) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, p *Proxy) {
		if up.ContentLength < 0 {
			p.Relay(w, up, up.Body)
			return
		}
		n := up.ContentLength + delta
		up.Header.Set("Content-Length", strconv.FormatInt(n, 10))
		if delta > 0 {
			// Promise more than there is, then end the connection.
			p.Abort(w, up, up.ContentLength, false)
			return
		}
		p.Relay(w, up, io.LimitReader(up.Body, n))
	}}
}

// Corrupt flips one byte of the body at offset (clamped to the body).
func Corrupt(k Kind, times int, offset int64) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, p *Proxy) {
		body, err := io.ReadAll(up.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if len(body) > 0 {
			i := min(offset, int64(len(body)-1))
			body[i] ^= 0xff
		}
		p.Relay(w, up, bytes.NewReader(body))
	}}
}

// Status answers with code and no content.
func Status(k Kind, times int, code int) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, _ *Proxy) {
		up.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errors":[{"code":"UNKNOWN","message":"injected %d"}]}`, code)
	}}
}

// TooMany answers 429 with a Retry-After of seconds.
func TooMany(k Kind, times int, seconds int) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, _ *Proxy) {
		up.Body.Close()
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
	}}
}

// Stall sends n body bytes and then nothing, holding the response open until
// the client gives up or the proxy closes. A body of n bytes or fewer is
// sent whole and not held: the client has its complete response and may send
// its next request on the connection, which the server does not read while
// the handler runs, so holding on would stall that request instead and never
// see the client leave (a stuck handler and descriptor until the proxy
// closes).
func Stall(k Kind, times int, n int64) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, r *http.Request, up *http.Response, p *Proxy) {
		defer up.Body.Close()
		for key, vs := range up.Header {
			w.Header()[key] = vs
		}
		w.WriteHeader(up.StatusCode)
		p.copyBody(w, up.Request, io.LimitReader(up.Body, n))
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		var one [1]byte
		if _, err := io.ReadFull(up.Body, one[:]); err != nil {
			return // nothing left to withhold
		}
		select {
		case <-r.Context().Done():
		case <-p.Stalled():
		case <-time.After(time.Minute):
		}
	}}
}

// Trickle sends the body in chunks of size bytes every interval: slow but
// moving, which must not be mistaken for a stall.
func Trickle(k Kind, times int, size int, interval time.Duration) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, r *http.Request, up *http.Response, p *Proxy) {
		defer up.Body.Close()
		for key, vs := range up.Header {
			w.Header()[key] = vs
		}
		w.WriteHeader(up.StatusCode)
		buf := make([]byte, size)
		for {
			n, err := io.ReadFull(up.Body, buf)
			if n > 0 {
				p.copyBody(w, up.Request, bytes.NewReader(buf[:n]))
				if fl, ok := w.(http.Flusher); ok {
					fl.Flush()
				}
			}
			if err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-p.Stalled():
				return
			case <-time.After(interval):
			}
		}
	}}
}

// Redirect answers 307 to the URL to(r) returns.
func Redirect(k Kind, times int, to func(*http.Request) string) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, r *http.Request, up *http.Response, _ *Proxy) {
		up.Body.Close()
		w.Header().Set("Location", to(r))
		w.WriteHeader(http.StatusTemporaryRedirect)
	}}
}

// IgnoreRange drops the Range header, so the registry sends the whole blob
// with 200, as some registries and caches do.
func IgnoreRange(times int) *Fault {
	return &Fault{Kind: Blob, Times: times,
		Match:   func(r *http.Request) bool { return r.Header.Get("Range") != "" },
		Rewrite: func(r *http.Request) { r.Header.Del("Range") },
	}
}

// BadContentRange answers a ranged request with a 206 whose Content-Range
// starts shift bytes off from what was asked.
func BadContentRange(times int, shift int64) *Fault {
	return &Fault{Kind: Blob, Times: times,
		Match: func(r *http.Request) bool { return r.Header.Get("Range") != "" },
		Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, p *Proxy) {
			if cr := up.Header.Get("Content-Range"); up.StatusCode == http.StatusPartialContent && cr != "" {
				var first, last, total int64
				if _, err := fmt.Sscanf(strings.TrimPrefix(cr, "bytes "), "%d-%d/%d", &first, &last, &total); err == nil {
					up.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first+shift, last, total))
				}
			}
			p.Relay(w, up, up.Body)
		}}
}

// Replace answers with body and contentType instead of what the registry
// sent (a different manifest for a pull by digest, say).
func Replace(k Kind, times int, contentType string, body []byte) *Fault {
	return &Fault{Kind: k, Times: times, Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, _ *Proxy) {
		up.Body.Close()
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}}
}

// Refuse answers the next times matching requests with code (and a
// Retry-After of retryAfter seconds when positive) without forwarding them:
// unlike Status and TooMany, the registry never sees the request, as when a
// front end sheds load.
func Refuse(k Kind, times int, code, retryAfter int) *Fault {
	return &Fault{Kind: k, Times: times, Respond: func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errors":[{"code":"UNKNOWN","message":"refused %d"}]}`, code)
	}}
}

// CutUpload forwards the first n bytes of the body of the next times
// matching blob uploads (PATCH, or a PUT with content), then breaks the
// request off: the registry sees its client vanish after what it received,
// and the client's connection is reset, as when a link drops midway through
// a chunk.
func CutUpload(times int, n int64) *Fault {
	return &Fault{Kind: Blob, Times: times,
		Match: func(r *http.Request) bool {
			return r.Method == http.MethodPatch || r.Method == http.MethodPut && r.ContentLength > 0
		},
		Rewrite: func(r *http.Request) { r.Body = &cutBody{body: r.Body, left: n} },
		Failed:  func(w http.ResponseWriter, _ *http.Request, _ *Proxy) { drop(w, true) },
	}
}

var errCut = errors.New("faultproxy: upload cut off")

// cutBody yields left bytes of body, then fails.
type cutBody struct {
	body io.ReadCloser
	left int64
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.body.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.body.Close() }
