package imagec

import (
	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/credentials"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
)

// Option configures Open.
type Option func(*options)

type options struct {
	root, configPath, dockerConfig string
	caFile                         string
	skipVerify, allowHTTP          bool
	creds                          auth.CredentialFunc
	parallel                       int
	registry                       []registry.Option
}

func defaults() options {
	return options{
		root:         local.DefaultRoot(),
		configPath:   config.DefaultPath(),
		dockerConfig: credentials.DefaultPath(),
		parallel:     pull.DefaultMaxConcurrentDownloads,
	}
}

// WithRoot sets the store directory. Default local.DefaultRoot():
// $IMAGEC_ROOT, else /var/lib/imagec for root, else
// $XDG_DATA_HOME/imagec (~/.local/share/imagec).
func WithRoot(dir string) Option {
	return func(o *options) {
		if dir != "" {
			o.root = dir
		}
	}
}

// WithConfigFile sets imagec's configuration file (mirrors, per-registry
// TLS). Default config.DefaultPath(): $IMAGEC_CONFIG, else
// $XDG_CONFIG_HOME/imagec/config.json (~/.config/imagec/config.json).
func WithConfigFile(path string) Option {
	return func(o *options) {
		if path != "" {
			o.configPath = path
		}
	}
}

// WithDockerConfig sets Docker's credentials file. Default
// credentials.DefaultPath(): $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json.
func WithDockerConfig(path string) Option {
	return func(o *options) {
		if path != "" {
			o.dockerConfig = path
		}
	}
}

// WithCredentials uses f for credentials instead of Docker's config.json.
// Default: Docker's config.json and its credential helpers.
func WithCredentials(f auth.CredentialFunc) Option {
	return func(o *options) { o.creds = f }
}

// WithCAFile trusts the PEM certificates of path besides the system roots.
// Default: the system roots only.
func WithCAFile(path string) Option { return func(o *options) { o.caFile = path } }

// WithInsecureSkipVerify turns TLS verification off. Default false.
func WithInsecureSkipVerify(skip bool) Option { return func(o *options) { o.skipVerify = skip } }

// WithInsecureAllowHTTP allows plain HTTP to any registry. Default false:
// loopback registries only.
func WithInsecureAllowHTTP(allow bool) Option { return func(o *options) { o.allowHTTP = allow } }

// WithMaxConcurrentTransfers bounds how many blobs move at once, downloads
// and uploads, across the client's pullers and pushers. Default
// pull.DefaultMaxConcurrentDownloads (3), docker's for pulls.
func WithMaxConcurrentTransfers(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.parallel = n
		}
	}
}

// WithRegistryOptions adds options to the registry client, after imagec's.
// Default none.
func WithRegistryOptions(opts ...registry.Option) Option {
	return func(o *options) { o.registry = append(o.registry, opts...) }
}

// HostOptions turns the configuration into per-host transport settings: a
// registry's own, and plain HTTP for mirrors written as http://.
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
	return hosts
}

// Endpoints gives a puller each registry's mirrors from the configuration.
func Endpoints(cfg *config.Config) func(domain string) []pull.Endpoint {
	return func(domain string) []pull.Endpoint {
		var out []pull.Endpoint
		for _, m := range cfg.Endpoints(domain) {
			out = append(out, pull.Endpoint{Host: m.Host, Prefix: m.Prefix})
		}
		return out
	}
}
