package testregistry

// Option configures a Registry started by New or Start.
type Option func(*config)

type config struct {
	user, pass string
	basicAuth  bool
	tokenAuth  bool
	anonPull   bool
	tls        bool
	storageDir string
	addr       string
}

func defaultConfig() config {
	return config{addr: "127.0.0.1:0"}
}

// WithBasicAuth protects the registry with htpasswd (bcrypt) authentication
// accepting only user/pass. Default: no authentication.
func WithBasicAuth(user, pass string) Option {
	return func(c *config) {
		c.basicAuth, c.user, c.pass = true, user, pass
	}
}

// WithTokenAuth protects the registry with bearer-token authentication: a
// token server on loopback issues JWTs (signed by a generated key whose
// certificate chain the registry trusts) granting pull and push to user/pass.
// Default: no authentication.
func WithTokenAuth(user, pass string) Option {
	return func(c *config) {
		c.tokenAuth, c.user, c.pass = true, user, pass
	}
}

// WithAnonymousPull makes the token server grant pull access to requests
// without credentials. It only has an effect with WithTokenAuth (htpasswd has
// no anonymous mode). Default: anonymous requests get a token without access.
func WithAnonymousPull() Option {
	return func(c *config) { c.anonPull = true }
}

// WithTLS serves the registry (and its token server) over HTTPS with a
// certificate for 127.0.0.1, ::1 and localhost issued by a generated test CA,
// exposed as Registry.CAFile and Registry.CAPool. Default: plain HTTP.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// WithStorageDir stores blobs and manifests under dir with the filesystem
// driver, so content survives a restart. Default: in-memory storage.
func WithStorageDir(dir string) Option {
	return func(c *config) { c.storageDir = dir }
}

// WithAddr sets the listen address. Default: "127.0.0.1:0" (a free loopback
// port).
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}
