package shaper

import (
	"net"
	"sync"
	"time"
)

// Proxy accepts connections on 127.0.0.1 and relays each, shaped, to the
// target address.
type Proxy struct {
	ln     net.Listener
	target string
	shape  Shape

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a proxy to target (host:port) on a free loopback port.
func Listen(target string, s Shape) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, shape: s, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port, to use in place of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Shape is the shape the proxy applies.
func (p *Proxy) Shape() Shape { return p.shape }

// Close stops accepting, ends every relayed connection and waits for the
// relays to finish.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

// track records c so that Close can end it; false when already closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// relay joins the client to a new connection to the target. Nothing is
// read from either side before the handshake's round trip is over, counted
// from the accept: what the client sent at once (the connect returned at
// once on loopback) waits as it would have waited to be sent.
func (p *Proxy) relay(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	open := time.Now().Add(p.shape.RTT)
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	time.Sleep(time.Until(open))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
}

// chunkSize is how much one read takes from a connection; the token
// bucket's burst is two chunks, so the cap holds at a fine grain.
const chunkSize = 32 << 10

// chunk is data read from one side, to be written to the other at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst through the shape: a token bucket at the read
// side (so a capped connection pushes back into the sender's socket, as a
// slow link does) and a delay line of half the round trip between read and
// write. The line holds a little more than the bandwidth-delay product, so
// it never caps the rate by itself.
func (p *Proxy) pipe(dst, src net.Conn) {
	oneWay := p.shape.RTT / 2
	depth := 4
	if p.shape.Rate > 0 {
		depth += int(float64(p.shape.Rate)*oneWay.Seconds()) / chunkSize * 2
	} else if oneWay > 0 {
		depth = 256
	}
	line := make(chan chunk, min(depth, 4096))
	go func() {
		defer close(line)
		bucket := newBucket(p.shape.Rate, 2*chunkSize)
		for {
			b := make([]byte, chunkSize)
			n, err := src.Read(b)
			if n > 0 {
				bucket.take(n)
				line <- chunk{b: b[:n], due: time.Now().Add(oneWay)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range line {
		if failed {
			continue // drain, so the reader is never stuck on a full line
		}
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.b); err != nil {
			failed = true
			src.Close() // the reader sees the end and stops
		}
	}
	if failed {
		return
	}
	// The sender is done: pass the half-close on, so that a client reading
	// to EOF gets it, and keep the other direction open.
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// bucket is a token bucket: rate tokens (bytes) a second, at most burst
// saved up. take may run into debt and then sleeps it off, so a read of any
// size is let through at once and paid for after.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate int64, burst int) *bucket {
	return &bucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

func (b *bucket) take(n int) {
	if b.rate <= 0 {
		return
	}
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens < 0 {
		time.Sleep(time.Duration(-b.tokens / b.rate * float64(time.Second)))
	}
}
