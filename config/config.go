// Package config reads imagec's configuration file: per-registry TLS and
// plain-HTTP settings, and the mirrors to pull a registry's content from.
//
// The file is JSON, at $IMAGEC_CONFIG, else $XDG_CONFIG_HOME/imagec/config.json,
// else ~/.config/imagec/config.json (see DefaultPath). A missing or empty
// file is an empty configuration:
//
//	{
//	  "registries": {
//	    "docker.io": {
//	      "mirrors": ["mirror.example.com", "http://10.0.0.5:5000/dockerhub"],
//	      "insecureAllowHTTP": false,
//	      "caFile": "/etc/ssl/my-ca.pem",
//	      "insecureSkipVerify": false
//	    },
//	    "localhost:5000": {"mirrors": ["127.0.0.1:5001"]}
//	  },
//	  "hostsDir": "/etc/containerd/certs.d",
//	  "verify": true,
//	  "policy": "/etc/containers/policy.json"
//	}
//
// Keys of "registries" are registry domains as references write them
// ("docker.io", "ghcr.io", "host:port"); "index.docker.io" and
// "registry-1.docker.io" mean "docker.io". Host names are case-insensitive
// and stored lowercase. A host, key or mirror, needs a dot or a port unless
// it is "localhost": references read a bare name as a Docker Hub path.
// Every field is optional:
//
//   - mirrors: tried in order before the registry itself. Each is
//     [https://|http://]host[:port][/prefix]. Without a scheme, or with
//     https://, the mirror is spoken to over TLS; http:// allows plain HTTP
//     to it. A prefix is prepended to repository paths on the mirror
//     ("http://10.0.0.5:5000/dockerhub" serves docker.io/library/alpine as
//     dockerhub/library/alpine). User info, queries and fragments are
//     refused.
//   - insecureAllowHTTP: the registry may be spoken to over plain HTTP
//     (loopback registries always may).
//   - caFile: PEM certificates trusted, in addition to the system roots,
//     for this registry only. A relative path is relative to the directory
//     of the configuration file.
//   - insecureSkipVerify: do not verify this registry's TLS certificate.
//
// The TLS settings of an entry apply to that registry's host only, not to
// its mirrors: a mirror that needs a private CA gets its own entry keyed by
// its host[:port].
//
// hostsDir names a containerd hosts directory (HostsDir, LoadHostsDir):
// DIR/<registry>/hosts.toml files as containerd reads them. For one
// registry, the most specific source of mirrors wins (Config.Hosts): its
// own hosts.toml, else this file's mirrors, else DIR/_default/hosts.toml.
// A relative path is relative to the directory of the configuration file.
//
// "verify": true checks every pull against the trust policy (see the verify
// package), read from "policy" (default /etc/containers/policy.json; a
// relative path is relative to this file's directory).
//
// Parsing is strict: unknown or misspelt fields, duplicate keys, values of
// the wrong type and bad mirrors are errors naming the file and the key.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// maxFileSize bounds the configuration file; real ones are a few KiB.
const maxFileSize = 1 << 20

// Config is a parsed configuration file. The zero value (and a nil *Config)
// is an empty configuration.
type Config struct {
	// Registries is keyed by normalized domain: lowercase, Docker Hub as
	// "docker.io".
	Registries map[string]Registry
	// HostsDir is the "hostsDir" key: a containerd hosts directory (an
	// absolute path, or relative to the working directory when Load was
	// given a relative path); "" when the file names none.
	HostsDir string

	// Verify has every pull checked against the trust policy, as
	// imagec pull --verify does.
	Verify bool
	// Policy is the trust policy file (containers-policy.json form) that
	// verification reads; "" means /etc/containers/policy.json. A
	// relative path is relative to the configuration file's directory.
	Policy string

	hostsDir *HostsDir // see UseHostsDir
}

// Registry is the configuration of one registry domain.
type Registry struct {
	// Mirrors are tried in order before the registry itself.
	Mirrors []Mirror
	// InsecureAllowHTTP allows plain HTTP to the registry's host.
	InsecureAllowHTTP bool
	// CAFile is a PEM file of extra roots for the registry's host; an
	// absolute path, or relative to the working directory when Load was
	// given a relative path.
	CAFile string
	// InsecureSkipVerify turns off TLS verification for the registry's
	// host.
	InsecureSkipVerify bool
	// Parts is how many concurrent range requests one large blob of the
	// registry (and its mirrors) is fetched with, whatever the link's
	// speed; 1 fetches every blob as one stream, for a registry or cache
	// that misbehaves with ranges. 0: the default (the --parts flag, else
	// pull.DefaultParts over a link slower than pull.DefaultSplitRate).
	Parts int
}

// DefaultPath returns $IMAGEC_CONFIG, else
// $XDG_CONFIG_HOME/imagec/config.json, else ~/.config/imagec/config.json,
// else "" when the home directory is unknown (Load("") is an empty
// configuration). A relative $XDG_CONFIG_HOME is ignored, as the XDG base
// directory specification requires.
func DefaultPath() string {
	if p := os.Getenv("IMAGEC_CONFIG"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "imagec", "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "imagec", "config.json")
}

// Load reads the configuration file at path. A missing file, an empty file
// and path "" are an empty configuration. Errors are one line naming the
// file (and the key at fault) and wrap errdefs.ErrInvalidArgument, or
// errdefs.ErrTooLarge for a file over 1 MiB.
func Load(path string) (*Config, error) {
	if path == "" {
		return &Config{Registries: map[string]Registry{}}, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Registries: map[string]Registry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading imagec config: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading imagec config %s: %w: %w", path, err, errdefs.ErrInvalidArgument)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("imagec config %s exceeds %d bytes: %w", path, maxFileSize, errdefs.ErrTooLarge)
	}
	c, err := parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("imagec config %s: %w", path, err)
	}
	return c, nil
}

// For returns the configuration of the registry domain (or of its API host:
// "registry-1.docker.io" finds "docker.io"), the zero Registry when the file
// has none.
func (c *Config) For(domain string) Registry {
	if c == nil {
		return Registry{}
	}
	return c.Registries[normalizeDomain(domain)]
}

// Endpoints returns where to pull domain's content from, in the order to try
// them: its mirrors, then the upstream registry itself as
// Mirror{Host: reference.RegistryHost(domain)} (no prefix; PlainHTTP false,
// plain HTTP to it being governed by Registry.InsecureAllowHTTP and
// loopback). The result is never empty and is the caller's to modify.
func (c *Config) Endpoints(domain string) []Mirror {
	mirrors := c.For(domain).Mirrors
	eps := make([]Mirror, 0, len(mirrors)+1)
	eps = append(eps, mirrors...)
	return append(eps, Mirror{Host: reference.RegistryHost(domain)})
}

// normalizeDomain is the key a domain is stored and looked up under.
func normalizeDomain(domain string) string {
	d := strings.ToLower(domain)
	switch d {
	case "index.docker.io", reference.DockerHubHost:
		return reference.DockerHubDomain
	}
	return d
}
