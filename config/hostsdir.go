package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// DefaultHostsDir is containerd's hosts directory, read (never written)
// when it exists and nothing names another.
const DefaultHostsDir = "/etc/containerd/certs.d"

// defaultNamespace is the directory whose hosts.toml serves registries
// that have none of their own.
const defaultNamespace = "_default"

// HostsDir is a parsed containerd hosts directory: DIR/<host>/hosts.toml
// per registry ("docker.io", "host:port" or containerd's "host_port_"),
// and DIR/_default/hosts.toml for registries without one. Every file is
// read once, by LoadHostsDir; a file that does not parse makes the
// registries it serves fail (Lookup), not the others.
type HostsDir struct {
	// Path is the directory.
	Path  string
	files map[string]*HostsFile // by normalized domain, or "_default"
	errs  map[string]error
}

// LoadHostsDir reads every DIR/*/hosts.toml. A directory that does not
// exist or can't be listed is an error (errdefs.ErrInvalidArgument); a
// subdirectory without hosts.toml, or whose name is no registry host, is
// skipped (containerd reads Docker's *.crt, *.cert and *.key files there;
// imagec does not).
func LoadHostsDir(dir string) (*HostsDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("hosts dir %s: %w: %w", dir, err, errdefs.ErrInvalidArgument)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("hosts dir: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	d := &HostsDir{Path: abs, files: map[string]*HostsFile{}, errs: map[string]error{}}
	// Sorted, so that of "host_port_" and "host:port" the first, as
	// containerd looks it up, is the one kept.
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() > entries[j].Name() })
	for _, e := range entries {
		ns, ok := namespaceOf(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		if _, done := d.files[ns]; done {
			continue
		}
		if _, done := d.errs[ns]; done {
			continue
		}
		hostDir := filepath.Join(abs, e.Name())
		path := filepath.Join(hostDir, "hosts.toml")
		f, err := readHostsFile(path, hostDir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			d.errs[ns] = fmt.Errorf("hosts file %s: %w", path, err)
		case ns == defaultNamespace && f.Server.Host == "" && (len(f.Server.CAFiles) > 0 || len(f.Server.ClientCerts) > 0 || f.Server.SkipVerify):
			d.errs[ns] = fmt.Errorf("hosts file %s: top-level ca, client or skip_verify without a server: imagec applies TLS settings to named hosts only: %w", path, errdefs.ErrInvalidArgument)
		default:
			d.files[ns] = f
		}
	}
	return d, nil
}

func readHostsFile(path, dir string) (*HostsFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxHostsFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	f, err := ParseHostsFile(data, dir)
	if err != nil {
		return nil, err
	}
	f.Path = path
	return f, nil
}

// namespaceOf maps a directory name to the domain it configures:
// "_default", "host", "host:port", or containerd's "host_port_" for
// file systems without ':'.
func namespaceOf(name string) (string, bool) {
	if name == defaultNamespace {
		return name, true
	}
	if rest, ok := strings.CutSuffix(name, "_"); ok {
		if i := strings.LastIndexByte(rest, '_'); i > 0 {
			name = rest[:i] + ":" + rest[i+1:]
		}
	}
	host, err := parseHost(name)
	if err != nil {
		return "", false
	}
	return normalizeDomain(host), true
}

// Lookup returns the hosts file that configures domain: its own, else
// _default's; nil when neither exists. The error is that of the file
// that would apply, when it does not parse.
func (d *HostsDir) Lookup(domain string) (*HostsFile, error) {
	if d == nil {
		return nil, nil
	}
	for _, ns := range []string{normalizeDomain(domain), defaultNamespace} {
		if f, ok := d.files[ns]; ok {
			return f, nil
		}
		if err, ok := d.errs[ns]; ok {
			return nil, err
		}
	}
	return nil, nil
}

// Hosts are the hosts every file that parsed names, its own registry's
// included (for per-host TLS and plain-HTTP settings), in no particular
// order.
func (d *HostsDir) Hosts() []Host {
	if d == nil {
		return nil
	}
	var out []Host
	for ns, f := range d.files {
		if ns == defaultNamespace {
			out = append(out, f.Hosts...)
			if f.Server.Host != "" {
				out = append(out, f.Server)
			}
			continue
		}
		out = append(out, f.Endpoints(ns)...)
	}
	return out
}

// registryHost is the host serving domain's registry API.
func registryHost(domain string) string {
	return reference.RegistryHost(normalizeDomain(domain))
}

// UseHostsDir has Hosts consult d (nil: none).
func (c *Config) UseHostsDir(d *HostsDir) { c.hostsDir = d }

// Hosts returns where to pull domain's content from, in the order to try
// them, with how to speak to each. The most specific source wins: the
// hosts directory's DIR/<domain>/hosts.toml, else the JSON file's mirrors
// for domain, else DIR/_default/hosts.toml, else the registry alone. A
// hosts.toml lists its hosts, then its server; the JSON mirrors are
// followed by the registry itself. The error is that of a hosts.toml that
// applies but does not parse.
func (c *Config) Hosts(domain string) ([]Host, error) {
	var d *HostsDir
	if c != nil {
		d = c.hostsDir
	}
	if f, ok := d.own(domain); ok {
		return f.Endpoints(domain), nil
	} else if err := d.ownErr(domain); err != nil {
		return nil, err
	}
	if len(c.For(domain).Mirrors) == 0 {
		f, err := d.Lookup(domain)
		if err != nil {
			return nil, err
		}
		if f != nil {
			return f.Endpoints(domain), nil
		}
	}
	var out []Host
	for _, m := range c.Endpoints(domain) {
		h := Host{Scheme: "https", Host: m.Host, Prefix: m.Prefix, Root: "/v2", Pull: true, Resolve: true, Push: true}
		if m.PlainHTTP {
			h.Scheme = "http"
		}
		out = append(out, h)
	}
	return out, nil
}

func (d *HostsDir) own(domain string) (*HostsFile, bool) {
	if d == nil {
		return nil, false
	}
	f, ok := d.files[normalizeDomain(domain)]
	return f, ok
}

func (d *HostsDir) ownErr(domain string) error {
	if d == nil {
		return nil
	}
	return d.errs[normalizeDomain(domain)]
}

// HostsDirHosts are the hosts the hosts directory UseHostsDir gave names
// (see HostsDir.Hosts); none without one.
func (c *Config) HostsDirHosts() []Host {
	if c == nil {
		return nil
	}
	return c.hostsDir.Hosts()
}
