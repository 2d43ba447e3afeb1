package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Bounds on what one log line repeats of a request: the request line and
// the user agent are the client's text and could be megabytes long.
const (
	maxLoggedURI   = 2048
	maxLoggedAgent = 256
)

// recorder is the ResponseWriter a request is answered through: it
// counts what was sent, for the access log, and carries the error a
// handler answered with.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	err    error
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush while a blob streams in from the upstream).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteError records err for the request's log line.
func noteError(w http.ResponseWriter, err error) {
	if rec, ok := w.(*recorder); ok {
		rec.err = err
	}
}

// accessLog writes one line per request to w:
//
//	2006-01-02T15:04:05.000Z 127.0.0.1:40312 "GET /v2/library/alpine/manifests/3.20?ns=docker.io" 200 1638 1.2ms "containerd/1.6.20" error="..."
//
// Everything that came from the client (the request line, the agent) or
// from elsewhere (an upstream's error text) is quoted with Go's escapes,
// so no byte of it can drive a terminal or split the line. A response
// cut off on purpose (a blob that failed verification on its way in) is
// logged with status "cut".
type accessLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *accessLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		cut := true
		defer func() {
			status := strconv.Itoa(rec.status)
			if rec.status == 0 {
				status = "200"
			}
			if cut {
				status = "cut"
			}
			l.line(r, start, status, rec)
		}()
		next.ServeHTTP(rec, r)
		cut = false
	})
}

func (l *accessLog) line(r *http.Request, start time.Time, status string, rec *recorder) {
	if l == nil || l.w == nil {
		return
	}
	line := fmt.Sprintf("%s %s %s %s %d %s %s",
		start.UTC().Format("2006-01-02T15:04:05.000Z"), quote(r.RemoteAddr, 64),
		quote(r.Method+" "+r.URL.RequestURI(), maxLoggedURI), status, rec.bytes,
		time.Since(start).Round(100*time.Microsecond), quote(r.UserAgent(), maxLoggedAgent))
	if rec.err != nil {
		line += " error=" + quote(rec.err.Error(), maxLoggedURI)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, line)
}

// quote is s, at most max bytes of it, as a Go string literal.
func quote(s string, max int) string {
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
