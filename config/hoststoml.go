package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/imagec/imagec/errdefs"
)

// Host is one place a registry's content is pulled from, with how to speak
// to it: a [host."URL"] entry of a hosts.toml, its server, a mirror of the
// JSON file, or the registry itself.
type Host struct {
	// Scheme is "https", or "http" for plain HTTP.
	Scheme string
	// Host is host[:port], lowercase, as dialed.
	Host string
	// Root is the API's path on Host: "/v2", "/cache/v2" for a URL with
	// the path /cache, or the URL's path as it is with override_path.
	Root string
	// Prefix is a JSON mirror's repository prefix; "" for hosts.toml.
	Prefix string
	// Pull: content by digest may come from here. Resolve: tags may be
	// resolved here. Push: pushes may go here (imagec pushes only to the
	// registry itself). hosts.toml's capabilities; all three when absent.
	Pull, Resolve, Push bool
	// CAFiles are PEM files of roots trusted for Host (absolute paths).
	CAFiles []string
	// ClientCerts are TLS client certificates for Host.
	ClientCerts []ClientCert
	// SkipVerify turns TLS verification off for Host.
	SkipVerify bool
	// Header is sent on every request to Host for this registry. Its
	// values may be secrets: they are never printed.
	Header http.Header
}

// ClientCert names a client certificate's PEM files; KeyFile is "" when
// CertFile holds the key too.
type ClientCert struct{ CertFile, KeyFile string }

// URL is scheme://host/root, for messages.
func (h Host) URL() string { return h.Scheme + "://" + h.Host + h.Root }

// HostsFile is a parsed hosts.toml.
type HostsFile struct {
	// Path is the file's path, for messages.
	Path string
	// Hosts are its [host."URL"] entries, in file order.
	Hosts []Host
	// Server is the top level: the server and the settings beside it. Its
	// Host is "" when the file names no server, which means the registry
	// the file is used for.
	Server Host
}

// Endpoints are the places to pull domain's content from per f: its hosts
// in order, then the server (domain's own registry host when f names
// none).
func (f *HostsFile) Endpoints(domain string) []Host {
	out := append([]Host(nil), f.Hosts...)
	s := f.Server
	if s.Host == "" {
		s.Scheme, s.Host, s.Root = "https", registryHost(domain), "/v2"
	}
	return append(out, s)
}

// maxHostsFile bounds a hosts.toml; real ones are a few hundred bytes.
const maxHostsFile = 1 << 20

// hostFields are the keys of a host entry, and of the top level.
type hostFields struct {
	Capabilities []string       `toml:"capabilities"`
	CA           any            `toml:"ca"`
	Client       any            `toml:"client"`
	SkipVerify   bool           `toml:"skip_verify"`
	Header       map[string]any `toml:"header"`
	OverridePath bool           `toml:"override_path"`
	// DialTimeout is checked and otherwise ignored: imagec dials with its
	// own timeout and hands over from a dead mirror at once.
	DialTimeout string `toml:"dial_timeout"`
	// Proxy is refused: a per-host proxy imagec would not honour would
	// send traffic somewhere the file did not mean.
	Proxy *string `toml:"proxy"`
}

type fileFields struct {
	hostFields
	Server string                `toml:"server"`
	Host   map[string]hostFields `toml:"host"`
}

// ParseHostsFile reads a containerd hosts.toml; dir (absolute) resolves
// relative ca and client paths. Unknown keys, values of the wrong type,
// bad URLs, capabilities, headers and proxy are errors of one line naming
// the key, wrapping errdefs.ErrInvalidArgument.
func ParseHostsFile(data []byte, dir string) (*HostsFile, error) {
	if len(data) > maxHostsFile {
		return nil, fmt.Errorf("over %d bytes: %w", maxHostsFile, errdefs.ErrInvalidArgument)
	}
	var raw fileFields
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, tomlError(err)
	}
	order, err := hostOrder(data)
	if err != nil {
		return nil, err
	}
	f := &HostsFile{}
	seen := map[string]string{}
	for _, key := range order {
		fields, ok := raw.Host[key]
		if !ok {
			continue
		}
		h, err := parseHostEntry(key, fields, dir)
		if err != nil {
			return nil, invalid(fmt.Sprintf("host.%q", key), err)
		}
		id := h.URL()
		if prev, dup := seen[id]; dup {
			return nil, invalid(fmt.Sprintf("host.%q", key), fmt.Errorf("the same host as %q", prev))
		}
		seen[id] = key
		f.Hosts = append(f.Hosts, h)
	}
	if len(f.Hosts) != len(raw.Host) {
		return nil, invalid("host", errors.New(`write each host as its own [host."URL"] table, so that their order is known`))
	}
	if f.Server, err = parseHostEntry(raw.Server, raw.hostFields, dir); err != nil {
		return nil, invalid("server", err)
	}
	return f, nil
}

// hostOrder lists the URLs of [host."URL"] tables in file order: decoding
// into a map loses it, and the order is the order mirrors are tried in.
func hostOrder(data []byte) ([]string, error) {
	var p unstable.Parser
	p.Reset(data)
	var order []string
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table {
			continue
		}
		var parts []string
		for it := e.Key(); it.Next(); {
			parts = append(parts, string(it.Node().Data))
		}
		if len(parts) >= 2 && parts[0] == "host" && (len(order) == 0 || order[len(order)-1] != parts[1]) {
			order = append(order, parts[1])
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("invalid TOML: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return order, nil
}

// tomlError makes go-toml's errors one line with a position.
func tomlError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		row, col := e.Position()
		return fmt.Errorf("unknown key %q at line %d, column %d: %w", strings.Join(e.Key(), "."), row, col, errdefs.ErrInvalidArgument)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("invalid TOML at line %d, column %d: %s: %w", row, col, strings.TrimPrefix(de.Error(), "toml: "), errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("invalid TOML: %s: %w", strings.ReplaceAll(err.Error(), "\n", " "), errdefs.ErrInvalidArgument)
}

// parseHostEntry turns one host's keys into a Host; raw is its URL ("" for
// a top level without server).
func parseHostEntry(raw string, f hostFields, dir string) (Host, error) {
	var h Host
	if raw != "" {
		var err error
		if h.Scheme, h.Host, h.Root, err = parseHostURL(raw, f.OverridePath); err != nil {
			return Host{}, err
		}
	}
	if f.Proxy != nil {
		return Host{}, errors.New("proxy is not supported by imagec (it honours HTTPS_PROXY and NO_PROXY)")
	}
	if f.DialTimeout != "" {
		if d, err := time.ParseDuration(f.DialTimeout); err != nil || d < 0 {
			return Host{}, fmt.Errorf("dial_timeout %q is not a duration", f.DialTimeout)
		}
	}
	if len(f.Capabilities) == 0 {
		h.Pull, h.Resolve, h.Push = true, true, true
	}
	for _, c := range f.Capabilities {
		switch strings.ToLower(c) {
		case "pull":
			h.Pull = true
		case "resolve":
			h.Resolve = true
		case "push":
			h.Push = true
		default:
			return Host{}, fmt.Errorf("capability %q is not pull, resolve or push", c)
		}
	}
	var err error
	if h.CAFiles, err = pathList("ca", f.CA, dir); err != nil {
		return Host{}, err
	}
	if h.ClientCerts, err = clientCerts(f.Client, dir); err != nil {
		return Host{}, err
	}
	h.SkipVerify = f.SkipVerify
	if h.Header, err = headers(f.Header); err != nil {
		return Host{}, err
	}
	return h, nil
}

// parseHostURL reads a host's URL as containerd does: https:// when no
// scheme is given; the path, when there is one, has /v2 appended unless it
// ends in /v2 or override_path says it is the API root as it is.
func parseHostURL(raw string, overridePath bool) (scheme, host, root string, err error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", "", "", fmt.Errorf("URL %q does not parse", raw)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", "", "", fmt.Errorf("URL %q: scheme is not https or http", raw)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return "", "", "", fmt.Errorf("URL %q: user info, queries and fragments are not allowed", raw)
	case strings.Contains(u.EscapedPath(), "%") || strings.ContainsAny(u.Path, "%;,"):
		return "", "", "", fmt.Errorf("URL %q: the path must not need escaping", raw)
	}
	if host, err = parseHost(u.Host); err != nil {
		return "", "", "", fmt.Errorf("URL %q: %v", raw, err)
	}
	root = "/v2"
	if p := path.Clean("/" + u.Path); p != "/" || overridePath {
		root = p
		if !overridePath && !strings.HasSuffix(p, "/v2") {
			root = path.Join(p, "v2")
		}
	}
	return u.Scheme, host, root, nil
}

// pathList reads a string or a list of strings as file paths, relative
// ones resolved against dir.
func pathList(key string, v any, dir string) ([]string, error) {
	var out []string
	switch v := v.(type) {
	case nil:
	case string:
		out = append(out, absPath(v, dir))
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: want a path or a list of paths", key)
			}
			out = append(out, absPath(s, dir))
		}
	default:
		return nil, fmt.Errorf("%s: want a path or a list of paths", key)
	}
	for _, p := range out {
		if p == "" {
			return nil, fmt.Errorf("%s: an empty path", key)
		}
	}
	return out, nil
}

// clientCerts reads client as containerd does: a path (certificate and key
// in one file), a list of such paths, or a list of [cert, key] pairs.
func clientCerts(v any, dir string) ([]ClientCert, error) {
	const want = `client: want a path, a list of paths or a list of ["cert", "key"] pairs`
	if s, ok := v.(string); ok {
		v = []any{s}
	}
	list, ok := v.([]any)
	if v != nil && !ok {
		return nil, errors.New(want)
	}
	var out []ClientCert
	for _, e := range list {
		var cert, key string
		switch e := e.(type) {
		case string:
			cert = e
		case []any:
			if len(e) != 2 {
				return nil, errors.New(want)
			}
			c, ok1 := e[0].(string)
			k, ok2 := e[1].(string)
			if !ok1 || !ok2 {
				return nil, errors.New(want)
			}
			cert, key = c, k
		default:
			return nil, errors.New(want)
		}
		if cert == "" {
			return nil, errors.New("client: an empty certificate path")
		}
		out = append(out, ClientCert{CertFile: absPath(cert, dir), KeyFile: absPath(key, dir)})
	}
	return out, nil
}

// absPath resolves p against dir; an empty p stays empty (a pair's key
// in the certificate's file).
func absPath(p, dir string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
