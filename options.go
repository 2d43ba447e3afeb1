package imagec

import (
	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/credentials"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
)

// Option configures Open.
type Option func(*options)

type options struct {
	root, configPath, dockerConfig string
	caFile                         string
	hostsDir                       *string
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

// WithHostsDir reads containerd's hosts directory at dir (DIR/<registry>/
// hosts.toml, DIR/_default/hosts.toml); "" reads none. Default: the
// configuration file's hostsDir, else config.DefaultHostsDir
// (/etc/containerd/certs.d) when it exists. The directory is read when
// the registry client is built, once.
func WithHostsDir(dir string) Option { return func(o *options) { o.hostsDir = &dir } }

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
