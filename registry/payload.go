package registry

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// payload is the body of a write request: size bytes that open produces
// from their start, as many times as asked. The auth transport sends the
// body again after answering a challenge, and a 307 or 308 redirect
// replays it; neither may see the bytes a first attempt consumed.
type payload struct {
	open func() (io.ReadCloser, error)
	size int64
	// large exempts the exchange from the small-body deadline: a blob's
	// chunk may take as long as it needs while it keeps moving, as a
	// download does.
	large bool
}

// bytesPayload is b as a small payload (a manifest).
func bytesPayload(b []byte) *payload {
	return &payload{
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		size: int64(len(b)),
	}
}

// attach makes p req's body, with an exact Content-Length (registries check
// it against Content-Range) and a GetBody for resends. Every read pushes
// g's stall timer back.
func (p *payload) attach(req *http.Request, g *stallGuard) error {
	req.ContentLength = p.size
	if p.size == 0 {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return nil
	}
	open := func() (io.ReadCloser, error) {
		rc, err := p.open()
		if err != nil {
			return nil, err
		}
		return &guardedBody{ReadCloser: rc, guard: g}, nil
	}
	body, err := open()
	if err != nil {
		return err
	}
	req.Body, req.GetBody = body, open
	return nil
}

// stallGuard pushes a request's stall timer back while its body is being
// sent: bytes the transport takes are progress, so a large chunk on a slow
// link is not a stall, and the response headers are due within the stall
// timeout of the last byte sent. Once the exchange has its response, late
// reads of the body (the transport finishing a write the server did not
// wait for) must not re-arm the timer, which then watches the response
// body, or a stray read would cancel it.
type stallGuard struct {
	mu    sync.Mutex
	timer *time.Timer
	stall time.Duration
	over  bool
}

func (g *stallGuard) progressed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.over {
		g.timer.Reset(g.stall)
	}
}

// answered ends the guard's part: the response (or the failure) is in.
func (g *stallGuard) answered() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.over = true
}

// guardedBody is a request body telling its guard about every read.
type guardedBody struct {
	io.ReadCloser
	guard *stallGuard
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.guard.progressed()
	}
	return n, err
}
