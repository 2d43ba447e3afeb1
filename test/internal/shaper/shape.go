// Package shaper is a TCP proxy on loopback that makes a link look like the
// ones pulls meet in the field: each connection's bandwidth is capped (as
// CDNs and object stores cap a connection, not a client) and every byte
// takes a fixed time to cross. It works below HTTP, so it is transparent to
// every client, containerd's daemon included, and a client that opens more
// connections gets more bandwidth, as it would there.
package shaper

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Shape is what the proxy does to each connection.
type Shape struct {
	// Rate caps each connection, in bytes per second, in each direction
	// separately; 0 is no cap.
	Rate int64
	// RTT is the round-trip time the proxy adds: a connection's first byte
	// waits one RTT (the TCP handshake the client does not see, since the
	// proxy answers it on loopback), then every byte is delayed RTT/2 in
	// each direction, so each request and its response cost one RTT more.
	RTT time.Duration
}

// Parse reads "RATE,RTT", "RATE" or "RTT": RATE is a number with a unit of
// bytes (B, KB, MB, GB in powers of 1000; KiB, MiB, GiB in powers of 1024),
// with or without "/s"; RTT is a Go duration ("20ms").
func Parse(s string) (Shape, error) {
	var sh Shape
	if strings.TrimSpace(s) == "" {
		return sh, fmt.Errorf("shape: empty")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if d, err := time.ParseDuration(part); err == nil {
			if d < 0 {
				return sh, fmt.Errorf("shape %q: negative latency", s)
			}
			sh.RTT = d
			continue
		}
		r, err := parseRate(part)
		if err != nil {
			return sh, fmt.Errorf("shape %q: %q is neither a rate (20MB/s) nor a duration (20ms)", s, part)
		}
		sh.Rate = r
	}
	return sh, nil
}

var units = []struct {
	suffix string
	factor float64
}{ // longest first, so that "MiB" is not read as "B"
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func parseRate(s string) (int64, error) {
	s = strings.TrimSuffix(s, "/s")
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("bad rate %q", s)
			}
			return int64(v * u.factor), nil
		}
	}
	return 0, fmt.Errorf("bad rate %q", s)
}

// String says the shape in the words the bench report uses.
func (s Shape) String() string {
	rate := "no bandwidth cap"
	if s.Rate > 0 {
		rate = fmt.Sprintf("%g MB/s per connection each way", float64(s.Rate)/1e6)
	}
	return fmt.Sprintf("%s, %v added round trip", rate, s.RTT)
}
