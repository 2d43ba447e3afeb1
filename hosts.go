package imagec

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// loadHostsDir has cfg consult the hosts directory the options, the
// configuration file or the default name. The default directory is only
// read when it exists and can be listed: a node without containerd, or a
// user who may not read it, pulls as without one. A directory named
// explicitly must be readable.
func loadHostsDir(o options, cfg *config.Config) error {
	dir, explicit := cfg.HostsDir, cfg.HostsDir != ""
	if o.hostsDir != nil {
		dir, explicit = *o.hostsDir, true
	}
	if !explicit {
		dir = config.DefaultHostsDir
	}
	if dir == "" {
		return nil
	}
	hd, err := config.LoadHostsDir(dir)
	if err != nil {
		if !explicit && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)) {
			return nil
		}
		return err
	}
	cfg.UseHostsDir(hd)
	return nil
}

// HostOptions turns the configuration into per-host transport settings: a
// registry's own from the JSON file; plain HTTP for mirrors written as
// http://; and the TLS settings of every host a hosts.toml names. TLS is
// per connection, so per host: when several sources name one host, their
// CA files and client certificates add up, and skip-verify or plain HTTP
// from any of them holds for the host.
func HostOptions(cfg *config.Config) map[string]registry.HostOptions {
	hosts := map[string]registry.HostOptions{}
	for domain, r := range cfg.Registries {
		hosts[reference.RegistryHost(domain)] = registry.HostOptions{
			InsecureAllowHTTP: r.InsecureAllowHTTP, CAFile: r.CAFile, InsecureSkipVerify: r.InsecureSkipVerify,
		}
	}
	for _, r := range cfg.Registries {
		for _, m := range r.Mirrors {
			if m.PlainHTTP {
				h := hosts[m.Host]
				h.InsecureAllowHTTP = true
				hosts[m.Host] = h
			}
		}
	}
	for _, th := range cfg.HostsDirHosts() {
		h := hosts[th.Host]
		h.InsecureAllowHTTP = h.InsecureAllowHTTP || th.Scheme == "http"
		h.InsecureSkipVerify = h.InsecureSkipVerify || th.SkipVerify
		h.CAFiles = append(h.CAFiles, th.CAFiles...)
		for _, cc := range th.ClientCerts {
			h.ClientCerts = append(h.ClientCerts, registry.ClientCert{CertFile: cc.CertFile, KeyFile: cc.KeyFile})
		}
		hosts[th.Host] = h
	}
	return hosts
}

// Endpoints gives a puller each registry's endpoints, per config.Config.Hosts:
// its own hosts.toml, else the JSON mirrors, else _default's hosts.toml,
// then the registry (or the server a hosts.toml names); hosts without pull
// or resolve are left out (imagec pushes only to the registry itself).
func Endpoints(cfg *config.Config) func(domain string) ([]pull.Endpoint, error) {
	return func(domain string) ([]pull.Endpoint, error) {
		hosts, err := cfg.Hosts(domain)
		if err != nil {
			return nil, err
		}
		var out []pull.Endpoint
		for _, h := range hosts {
			if !h.Pull && !h.Resolve {
				continue
			}
			out = append(out, pull.Endpoint{
				Host: h.Host, Prefix: h.Prefix, Root: h.Root, Header: h.Header,
				NoResolve: !h.Resolve, NoPull: !h.Pull,
			})
		}
		return out, nil
	}
}

// Sources are where to read ref's manifest, as a pull would (mirrors
// first, the registry last, each with the capability ref needs: resolve
// for a tag, pull for a digest), and the view of reg that speaks to them.
func Sources(reg *registry.Client, cfg *config.Config, ref reference.Reference) (*registry.Client, []reference.Reference, error) {
	eps, err := Endpoints(cfg)(ref.Domain())
	if err != nil {
		return nil, nil, err
	}
	var refs []reference.Reference
	var via []registry.Endpoint
	for _, ep := range eps {
		if (ref.Digest() == "" && ep.NoResolve) || (ref.Digest() != "" && ep.NoPull) {
			continue
		}
		r, err := ep.Reference(ref)
		if err != nil {
			return nil, nil, err
		}
		refs = append(refs, r)
		via = append(via, registry.Endpoint{Host: ep.Host, Root: ep.Root, Header: ep.Header})
	}
	if len(refs) == 0 {
		return nil, nil, fmt.Errorf("%s: no endpoint of %s may serve it: %w", ref, ref.Domain(), errdefs.ErrNotFound)
	}
	return reg.Via(ref.Domain(), via...), refs, nil
}
