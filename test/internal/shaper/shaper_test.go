package shaper

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The bounds below are ratios to what the shape implies, loose on the slow
// side: the machine is shared, and a late timer only ever makes a transfer
// slower, never faster than the cap.

func TestParse(t *testing.T) {
	for in, want := range map[string]Shape{
		"20MB/s,20ms":  {Rate: 20e6, RTT: 20 * time.Millisecond},
		"1.5MiB/s":     {Rate: 1.5 * (1 << 20)},
		"100ms":        {RTT: 100 * time.Millisecond},
		"500KB, 2ms":   {Rate: 500e3, RTT: 2 * time.Millisecond},
		"1GB/s,0s":     {Rate: 1e9},
		"64KiB/s,1.5s": {Rate: 64 << 10, RTT: 1500 * time.Millisecond},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "20MB/s,slow", "-5MB/s", "0MB/s", "-2ms", "20XB/s"} {
		if s, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, s)
		}
	}
}

// listen starts a server on loopback running handle for each connection.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return ln.Addr().String()
}

func proxy(t *testing.T, target string, s Shape) string {
	t.Helper()
	p, err := Listen(target, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.Addr()
}

// within fails unless got/want is in [lo, hi].
func within(t *testing.T, what string, got, want time.Duration, lo, hi float64) {
	t.Helper()
	r := got.Seconds() / want.Seconds()
	t.Logf("%s: %v, %.2f× the %v the shape implies", what, got, r, want)
	if r < lo || r > hi {
		t.Errorf("%s took %v: %.2f× the %v the shape implies, want %.2f–%.2f×", what, got, r, want, lo, hi)
	}
}

const size = 1 << 20

// download reads everything the server sends through addr.
func download(t *testing.T, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != size {
		t.Errorf("read %d bytes, %v; want %d", n, err, size)
	}
}

func sender(c net.Conn) { _, _ = c.Write(bytes.Repeat([]byte{'x'}, size)) }

func TestRateDownstream(t *testing.T) {
	addr := proxy(t, listen(t, sender), Shape{Rate: 2 << 20})
	start := time.Now()
	download(t, addr)
	within(t, "1 MiB at 2 MiB/s", time.Since(start), 500*time.Millisecond, 0.85, 2)
}

func TestRateUpstream(t *testing.T) {
	got := make(chan int64, 1)
	addr := proxy(t, listen(t, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}), Shape{Rate: 2 << 20})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write(bytes.Repeat([]byte{'x'}, size)); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite() // the half-close must reach the server
	if n := <-got; n != size {
		t.Fatalf("server read %d bytes, want %d", n, size)
	}
	within(t, "1 MiB up at 2 MiB/s", time.Since(start), 500*time.Millisecond, 0.85, 2)
}

// The cap is per connection: two at once take about as long as one.
func TestRatePerConnection(t *testing.T) {
	addr := proxy(t, listen(t, sender), Shape{Rate: 2 << 20})
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { download(t, addr) })
	}
	wg.Wait()
	within(t, "3 × 1 MiB on 3 connections at 2 MiB/s each", time.Since(start), 500*time.Millisecond, 0.85, 2)
}

// Each exchange costs one round trip, and the first byte one more (the
// handshake).
func TestLatency(t *testing.T) {
	const rtt = 40 * time.Millisecond
	addr := proxy(t, listen(t, func(c net.Conn) { _, _ = io.Copy(c, c) }), Shape{RTT: rtt})
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const exchanges = 5
	b := []byte{0}
	for range exchanges {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
	}
	within(t, "5 one-byte exchanges on a new connection", time.Since(start), (exchanges+1)*rtt, 0.95, 2.5)
}

func TestCloseEndsConnections(t *testing.T) {
	p, err := Listen(listen(t, func(c net.Conn) { _, _ = io.Copy(c, c) }), Shape{Rate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the client's connection stayed open after Close")
		}
	}
}

// With both, a transfer costs its bytes at the rate plus the handshake and
// the one-way delay: the delay line holds the bandwidth-delay product, so
// it does not cap the rate by itself.
func TestRateWithLatency(t *testing.T) {
	const rtt = 200 * time.Millisecond
	addr := proxy(t, listen(t, sender), Shape{Rate: 4 << 20, RTT: rtt})
	start := time.Now()
	download(t, addr)
	within(t, "1 MiB at 4 MiB/s behind 200 ms", time.Since(start), 250*time.Millisecond+rtt+rtt/2, 0.85, 1.8)
}
