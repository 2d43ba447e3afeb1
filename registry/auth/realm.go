package auth

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// DefaultRealmCheck is the realm policy applied when WithRealmCheck is not
// used, for a registry contacted over https. It is CheckRealm with plainHTTP
// false.
func DefaultRealmCheck(registryHost string, realm *url.URL) error {
	return CheckRealm(registryHost, false, realm)
}

// CheckRealm decides whether a bearer realm named by registryHost may be
// contacted. The realm receives the user's credentials and is chosen by the
// registry, so a hostile or compromised registry could use it to harvest
// passwords over cleartext or to make imagec probe the internal network
// (SSRF). The rules:
//
//   - the realm must be an absolute http or https URL without user info;
//   - it must be https, unless the registry itself is loopback or was
//     contacted over plain http (plainHTTP), where https buys nothing;
//   - a realm whose host is "localhost", a loopback, private, link-local or
//     unspecified IP literal, or a numeric host that is not a canonical IP
//     ("2130706433", "0x7f.1") is refused unless the registry host is itself
//     loopback or private: a registry on the internet has no business sending
//     imagec to them.
//
// Errors wrap errdefs.ErrDenied and say why. Host names that merely resolve
// to private addresses are not caught here; that needs a dialer-level check.
func CheckRealm(registryHost string, plainHTTP bool, realm *url.URL) error {
	if realm == nil {
		return fmt.Errorf("token realm for registry %s: missing: %w", registryHost, errdefs.ErrDenied)
	}
	deny := func(why string) error {
		return fmt.Errorf("token realm %s://%s for registry %s refused: %s: %w",
			realm.Scheme, realm.Host, registryHost, why, errdefs.ErrDenied)
	}
	scheme := strings.ToLower(realm.Scheme)
	if scheme != "https" && scheme != "http" {
		return deny("scheme must be https")
	}
	if realm.Host == "" || realm.Hostname() == "" {
		return deny("no host")
	}
	if realm.User != nil {
		return deny("realm URL carries user info")
	}
	registryInternal := reference.IsLoopback(registryHost) || isInternalHost(hostOnly(registryHost))
	if scheme == "http" && !plainHTTP && !reference.IsLoopback(registryHost) {
		return deny("plain http realm for a registry reached over https")
	}
	if isInternalHost(realm.Hostname()) && !registryInternal {
		return deny("realm points at a loopback, private or link-local address")
	}
	return nil
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
	// for 127.0.0.1; such hosts are never legitimate realms, so treat any
	// all-numeric host that netip rejected as internal.
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

// IsInternal reports whether hostport ("host", "host:port", "[v6]:port")
// names this machine or a non-public network by its literal form. A server
// on the internet must not send imagec to such a host, by a token realm or a
// redirect.
func IsInternal(hostport string) bool {
	return reference.IsLoopback(hostport) || isInternalHost(hostOnly(hostport))
}
