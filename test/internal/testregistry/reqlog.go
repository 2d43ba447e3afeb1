package testregistry

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Request is one HTTP request answered by the registry or its token server,
// as recorded by the request log.
type Request struct {
	Method string
	// Path is the URL path: "/v2/..." for the registry, tokenPath for the
	// token server.
	Path   string
	Status int
	// Authorization reports whether the request carried an Authorization
	// header (its value is never recorded).
	Authorization bool
	// Range is the request's Range header, if any.
	Range string
	// Query is the raw query string ("mount=sha256:…&from=a", an upload's
	// "_state=…"); the token server's carries the scopes asked for.
	Query string
	// ContentRange is the request's Content-Range header (a chunk of an
	// upload), if any.
	ContentRange string
	// BodyBytes is how many bytes of the request body the handler read:
	// what the registry received of an upload, a cut-off chunk included.
	BodyBytes int64
}

// requestLog records requests in arrival order so tests can assert what a
// client did (how many blob GETs, whether it resumed with Range, ...).
type requestLog struct {
	mu     sync.Mutex
	reqs   []Request
	tokens int
}

func (l *requestLog) wrap(next http.Handler, token bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		body := &countingBody{ReadCloser: r.Body}
		r.Body = body
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.reqs = append(l.reqs, Request{
			Method:        r.Method,
			Path:          r.URL.Path,
			Status:        status,
			Authorization: r.Header.Get("Authorization") != "",
			Range:         r.Header.Get("Range"),
			Query:         r.URL.RawQuery,
			ContentRange:  r.Header.Get("Content-Range"),
			BodyBytes:     body.n.Load(),
		})
		if token {
			l.tokens++
		}
	})
}

func (l *requestLog) snapshot() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Request(nil), l.reqs...)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs, l.tokens = nil, 0
}

func (l *requestLog) tokenCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tokens
}

// Requests returns the requests answered so far by the registry and its
// token server, oldest first.
func (r *Registry) Requests() []Request { return r.log.snapshot() }

// ResetRequests clears the request log and the token request count.
func (r *Registry) ResetRequests() { r.log.reset() }

// TokenRequests returns how many requests the token server answered since
// the last ResetRequests.
func (r *Registry) TokenRequests() int { return r.log.tokenCount() }

// BlobGets counts GET requests for blobs (…/blobs/sha256:…) that were
// answered with content or a redirect to it (200, 206 or 307): the number of
// blob downloads a client started.
func (r *Registry) BlobGets() int {
	n := 0
	for _, req := range r.log.snapshot() {
		if req.Method != http.MethodGet || !strings.Contains(req.Path, "/blobs/sha256:") {
			continue
		}
		switch req.Status {
		case http.StatusOK, http.StatusPartialContent, http.StatusTemporaryRedirect:
			n++
		}
	}
	return n
}

// statusWriter remembers the status code the handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader passes on the first status only: Distribution answers a
// client that vanished mid-upload with 499 and then its error, and net/http
// would log the second call.
func (w *statusWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the request body bytes a handler reads.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
