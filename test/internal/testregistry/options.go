package testregistry

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/imagec/imagec/errdefs"
)

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
	remoteURL  string // pull-through upstream, "" for a normal registry
	// tokenUsers are WithTokenUser's users, by name.
	tokenUsers map[string]tokenUser
	// referrersPage > 0 serves the referrers API, that many per page.
	referrersPage int
}

func defaultConfig() config {
	return config{addr: "127.0.0.1:0"}
}

// WithReferrersAPI serves the OCI 1.1 referrers API, which Distribution
// v3 lacks (it answers 404 there, as a registry without the API must): the
// manifests pushed with a subject are listed, pageSize a page (with Link
// headers to the next), and their PUT answers OCI-Subject. Default: no
// referrers API, so clients fall back to the sha256-<hex> tag schema.
func WithReferrersAPI(pageSize int) Option {
	return func(c *config) { c.referrersPage = max(pageSize, 1) }
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

// WithTokenUser adds a user of the token server (WithTokenAuth) whose rights
// are only grants: repository name to the actions allowed on it ("pull",
// "push"), e.g. {"a/src": {"pull"}, "b/dst": {"pull", "push"}}. The token
// server grants nothing else to that user, so tests can see a push refused
// for want of scope, or a mount whose source the user may not pull. Calls
// add users; a later one replaces a user of the same name. It has no
// effect without WithTokenAuth. Default: only WithTokenAuth's user, who may
// do everything.
func WithTokenUser(user, pass string, grants map[string][]string) Option {
	return func(c *config) {
		if c.tokenUsers == nil {
			c.tokenUsers = map[string]tokenUser{}
		}
		c.tokenUsers[user] = tokenUser{pass: pass, grants: grants}
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

// WithPullThrough runs the registry as a CNCF Distribution pull-through
// cache (proxy mode) of the registry at remoteURL, e.g. another test
// registry's URL. A pulled manifest or blob is fetched from upstream once,
// stored (in memory, or under WithStorageDir) and served locally after that,
// without expiry; tags are still resolved upstream on every request. The
// cache pulls anonymously through http.DefaultTransport, so the upstream
// must be plain HTTP (or HTTPS trusted by the system roots) without
// authentication, and it must be running when New is called (Distribution
// pings it at start-up). As Distribution does in proxy mode, the registry
// refuses pushes, deletes and blob mounts (405 UNSUPPORTED). Note that
// Distribution tracks in-flight blob downloads per digest process-wide:
// a blob that another cache in the same process is downloading at that
// moment is streamed from upstream without being cached, so concurrent
// tests should not pull identical fixtures through caches. Default: not a
// cache.
func WithPullThrough(remoteURL string) Option {
	return func(c *config) { c.remoteURL = remoteURL }
}

// checkRemoteURL accepts a pull-through upstream of the form
// http(s)://host[:port], dropping a trailing slash: Distribution appends
// "/v2/" to it as is.
func (c *config) checkRemoteURL() error {
	if c.remoteURL == "" {
		return nil
	}
	c.remoteURL = strings.TrimSuffix(c.remoteURL, "/")
	u, err := url.Parse(c.remoteURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("testregistry: pull-through upstream %q is not http(s)://host[:port]: %w", c.remoteURL, errdefs.ErrInvalidArgument)
	}
	return nil
}
