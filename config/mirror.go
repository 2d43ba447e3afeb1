package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// Mirror is one place to pull a registry's content from: a mirror, or the
// upstream registry itself as the last entry of Config.Endpoints.
type Mirror struct {
	// Host is host[:port], lowercase, as dialed ("[::1]:5000" for IPv6).
	Host string
	// Prefix is prepended to repository paths on this host ("dockerhub"
	// turns library/alpine into dockerhub/library/alpine). It has no
	// slash at either end; "" means none.
	Prefix string
	// PlainHTTP is set when the mirror was given as http://: it may be
	// spoken to without TLS even when it is not on loopback.
	PlainHTTP bool
}

// Repository returns the repository path to request on m for the upstream
// repository path (reference.Path(), e.g. "library/alpine").
func (m Mirror) Repository(path string) string {
	if m.Prefix == "" {
		return path
	}
	return m.Prefix + "/" + path
}

// String returns the canonical form of m, which ParseMirror reads back to m:
// "http://" only for plain HTTP, then host[:port], then "/prefix".
func (m Mirror) String() string {
	s := m.Host
	if m.PlainHTTP {
		s = "http://" + s
	}
	if m.Prefix != "" {
		s += "/" + m.Prefix
	}
	return s
}

// pathComponent is one component of a repository path in the distribution
// reference grammar; a prefix is made of them, so that prefix + path is
// still a valid repository name.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// ParseMirror reads a mirror as written in the configuration file: an
// optional "https://" or "http://" (which sets PlainHTTP), host[:port], and
// an optional /prefix path. User info, queries, fragments, percent-escapes
// and other schemes are refused. Errors wrap errdefs.ErrInvalidArgument.
func ParseMirror(s string) (Mirror, error) {
	var m Mirror
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 && !strings.Contains(rest[:i], "/") {
		switch scheme := strings.ToLower(rest[:i]); scheme {
		case "https":
		case "http":
			m.PlainHTTP = true
		default:
			return Mirror{}, mirrorError(s, fmt.Sprintf("scheme %q is not https or http", rest[:i]))
		}
		rest = rest[i+len("://"):]
	}
	// Each of these would be silently misread by a URL parser or end up
	// in request paths; name the problem instead.
	switch {
	case strings.Contains(rest, "@"):
		return Mirror{}, mirrorError(s, "user info is not allowed (put credentials in the docker config)")
	case strings.Contains(rest, "?"):
		return Mirror{}, mirrorError(s, "a query is not allowed")
	case strings.Contains(rest, "#"):
		return Mirror{}, mirrorError(s, "a fragment is not allowed")
	case strings.Contains(rest, "%"):
		return Mirror{}, mirrorError(s, "percent-escapes are not allowed")
	}
	hostPart, path, _ := strings.Cut(rest, "/")
	host, err := parseHost(hostPart)
	if err != nil {
		return Mirror{}, mirrorError(s, err.Error())
	}
	m.Host = host
	if path = strings.TrimSuffix(path, "/"); path != "" {
		for seg := range strings.SplitSeq(path, "/") {
			if !pathComponent.MatchString(seg) {
				return Mirror{}, mirrorError(s, fmt.Sprintf("path prefix component %q is not a lowercase repository path component", seg))
			}
		}
		m.Prefix = path
	}
	// Repository names are at most 255 characters with their host; leave
	// room for the repositories served under the mirror.
	if len(m.Host)+1+len(m.Prefix) > maxMirrorName {
		return Mirror{}, mirrorError(s, fmt.Sprintf("host and prefix are longer than %d characters", maxMirrorName))
	}
	return m, nil
}

// maxMirrorName bounds host/prefix so that every mirrored repository name
// stays within the 255 characters a reference allows.
const maxMirrorName = 128

func mirrorError(s, why string) error {
	return fmt.Errorf("mirror %q: %s: %w", s, why, errdefs.ErrInvalidArgument)
}

// parseHost validates host[:port] as references write registry domains and
// returns it lowercased: a DNS name or IPv4 address, or an IPv6 address in
// brackets, with an optional decimal port.
func parseHost(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty host")
	}
	name, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", fmt.Errorf("host %q: unclosed '['", s)
		}
		addr, err := netip.ParseAddr(s[1:end])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return "", fmt.Errorf("host %q: %q is not an IPv6 address", s, s[1:end])
		}
		if addr.Is4In6() { // references only take hex-and-colon IPv6
			return "", fmt.Errorf("host %q: write the IPv4-mapped address as IPv4", s)
		}
		name = "[" + addr.String() + "]"
		switch after := s[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
			if err := checkPort(port); err != nil {
				return "", fmt.Errorf("host %q: %w", s, err)
			}
		default:
			return "", fmt.Errorf("host %q: unexpected %q after the address", s, after)
		}
	} else {
		if strings.Count(s, ":") > 1 {
			return "", fmt.Errorf("host %q: an IPv6 address must be in brackets", s)
		}
		if i := strings.IndexByte(s, ':'); i >= 0 {
			name, port = s[:i], s[i+1:]
			if err := checkPort(port); err != nil {
				return "", fmt.Errorf("host %q: %w", s, err)
			}
		}
		if err := checkHostname(name); err != nil {
			return "", fmt.Errorf("host %q: %w", s, err)
		}
		name = strings.ToLower(name)
	}
	if port != "" {
		return name + ":" + port, nil
	}
	// References read a first component without '.' or ':' (other than
	// "localhost") as a Docker Hub path, so such a host could never be
	// addressed, and a mirror on it would be pulled from Docker Hub.
	if !strings.ContainsAny(name, ".:") && name != "localhost" {
		return "", fmt.Errorf("host %q needs a dot or a port (references read a bare name as a Docker Hub path)", s)
	}
	return name, nil
}

// checkHostname accepts DNS names made of letters, digits and inner
// hyphens (which covers dotted IPv4 addresses).
func checkHostname(name string) error {
	if name == "" {
		return fmt.Errorf("empty host name")
	}
	if len(name) > 253 {
		return fmt.Errorf("host name longer than 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host name %q has an empty or over-long label", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host name label %q starts or ends with '-'", label)
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("host name %q contains %q", name, rune(c))
			}
		}
	}
	return nil
}

// checkPort accepts 1-65535 written without sign or leading zeros, so that
// one port has one spelling (hosts are compared as strings).
func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

// References returns ref as each of its domain's endpoints serves it, in
// the order to try them (see Endpoints): the same tag or digest, under a
// mirror's host and prefix, then ref itself last. Errors wrap
// errdefs.ErrInvalidArgument: a prefix can make a name too long.
func (c *Config) References(ref reference.Reference) ([]reference.Reference, error) {
	eps := c.Endpoints(ref.Domain())
	out := make([]reference.Reference, 0, len(eps))
	for _, m := range eps[:len(eps)-1] {
		if m.Host == ref.Host() && m.Prefix == "" {
			continue // the registry itself, which comes last
		}
		r, err := reference.Parse(m.Host + "/" + m.Repository(ref.Path()) + ":" + reference.DefaultTag)
		if err != nil {
			return nil, fmt.Errorf("mirror %s of %s: %w", m, ref.Domain(), err)
		}
		if ref.Digest() != "" {
			r = r.WithDigest(ref.Digest())
		} else {
			r = r.WithTag(ref.Tag())
		}
		out = append(out, r)
	}
	return append(out, ref), nil
}
