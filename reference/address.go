package reference

import (
	"net"
	"net/netip"
	"strings"
)

// The address rules: which hosts imagec treats as this machine (plain HTTP
// allowed without a flag) and which as internal (a server on the internet
// may not send imagec there). Both judge the literal form only; a name that
// merely resolves to such an address is not caught here.

// IsLoopback reports whether host (with or without a port) names this
// machine: "localhost", a literal address in 127.0.0.0/8, or "::1". Such
// registries may be spoken to over plain HTTP without a flag, as docker does.
func IsLoopback(host string) bool {
	h := host
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndex(h, ":"); i > 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	// Only "localhost" itself: other names, even "*.localhost", go through
	// DNS and may land anywhere.
	if h == "localhost" || h == "::1" {
		return true
	}
	return strings.HasPrefix(h, "127.") && isIPv4(h)
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// IsInternal reports whether hostport ("host", "host:port", "[v6]:port")
// names this machine or a non-public network by its literal form. A server
// on the internet must not send imagec to such a host, by a token realm or a
// redirect.
func IsInternal(hostport string) bool {
	return IsLoopback(hostport) || isInternalHost(hostOnly(hostport))
}

// isInternalHost reports whether h (no port, no brackets) names this
// machine or a non-public network by its literal form.
func isInternalHost(h string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if i := strings.IndexByte(h, '%'); i >= 0 { // IPv6 zone
		h = h[:i]
	}
	if addr, err := netip.ParseAddr(h); err == nil {
		addr = addr.Unmap()
		return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
			addr.IsLinkLocalMulticast() || addr.IsUnspecified() || addr.IsInterfaceLocalMulticast() ||
			isSharedAddressSpace(addr)
	}
	// Resolvers built on inet_aton accept "2130706433", "0177.1" or "0x7f.1"
	// for 127.0.0.1; such hosts are never legitimate realms or redirect
	// targets, so treat any all-numeric host that netip rejected as internal.
	return looksNumeric(h)
}

// isSharedAddressSpace reports 100.64.0.0/10 (RFC 6598, carrier-grade NAT),
// which netip does not count as private but is not publicly routable.
func isSharedAddressSpace(a netip.Addr) bool {
	return a.Is4() && netip.MustParsePrefix("100.64.0.0/10").Contains(a)
}

func looksNumeric(h string) bool {
	if h == "" {
		return false
	}
	for _, part := range strings.Split(h, ".") {
		p := strings.TrimPrefix(strings.TrimPrefix(part, "0x"), "0X")
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			isHex := '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
			if !isHex || (p == part && !('0' <= c && c <= '9')) {
				return false
			}
		}
	}
	return true
}

// hostOnly strips a port and IPv6 brackets from host[:port].
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
