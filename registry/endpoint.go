package registry

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Endpoint says how to speak to one host that serves a registry's content
// (a mirror, or the registry itself) beyond what its HostOptions say: what
// a request to it needs that another namespace's requests to the same host
// may not (Dragonfly's node proxy, for one, serves every registry on one
// address and tells them apart by a header).
type Endpoint struct {
	// Host is host[:port], as in references and as dialed.
	Host string
	// Root is the path of the distribution API on Host, standing in for
	// "/v2": "" is "/v2"; "/cache/v2" for a mirror under a path;
	// "/v2/dockerhub" for a path-prefixed proxy project (Harbor); any path
	// for an API that does not end in /v2 (hosts.toml's override_path).
	// Token scopes are derived from what follows the first "/v2/" in a
	// request path, so a root without one gets scope-less tokens.
	Root string
	// Header is sent on every request to Host, pings included. A header
	// imagec sets itself (Accept, Range, User-Agent) keeps imagec's
	// value; Authorization is dropped by the credential layer unless the
	// host challenged. It never follows a redirect to another host, and
	// reaches no token server.
	Header http.Header
}

// route is what a view made by Via adds to requests.
type route struct {
	namespace string
	// nsHost is the namespace's own registry host, which gets no ns=.
	nsHost string
	eps    map[string]Endpoint // by hostKey
}

// Via returns a view of c for reading the content of the registry
// namespace (a domain as references write it: "docker.io",
// "registry.example.com:5000") at mirrors and at the registry itself. As
// containerd does, every API request the view makes to a host other than
// the namespace's own registry host carries the query ns=<namespace>
// (pings, manifests, blobs, tags), so a mirror serving several registries
// (Spegel, Harbor, Zot, imagec serve) knows which one is meant; a blob's
// redirect target gets none. Requests to a host listed in eps get its API
// root and headers. Namespace "" adds no ns=. The view shares c's
// connections, credentials, token cache and the schemes c has pinged;
// credentials still go only to the host that challenged, so a mirror gets
// those stored for the mirror's host, never the namespace's.
func (c *Client) Via(namespace string, eps ...Endpoint) *Client {
	r := &route{namespace: namespace, eps: make(map[string]Endpoint, len(eps))}
	if namespace != "" {
		r.nsHost = hostKey(namespace)
	}
	for _, ep := range eps {
		ep.Root = cleanRoot(ep.Root)
		ep.Header = ep.Header.Clone()
		r.eps[hostKey(ep.Host)] = ep
	}
	v := *c
	v.route = r
	return &v
}

// cleanRoot gives a root one spelling: a leading slash, no trailing one,
// and "/v2" for none.
func cleanRoot(root string) string {
	if root == "" {
		return "/v2"
	}
	return "/" + strings.Trim(root, "/")
}

// apiURL is the URL of path, an API path ("/v2/" or "/v2/<name>/..."), on
// host: under the host's root, with ns= for a mirror.
func (r *route) apiURL(scheme, host, path string) string {
	u := url.URL{Scheme: scheme, Host: host, Path: path}
	if r == nil {
		return u.String()
	}
	if ep, ok := r.eps[hostKey(host)]; ok && ep.Root != "/v2" {
		rest := strings.TrimPrefix(path, "/v2")
		if ep.Root == "/" {
			u.Path = rest
		} else {
			u.Path = ep.Root + rest
		}
	}
	if r.wantsNS(host) {
		u.RawQuery = url.Values{"ns": {r.namespace}}.Encode()
	}
	return u.String()
}

func (r *route) wantsNS(host string) bool {
	return r != nil && r.namespace != "" && hostKey(host) != r.nsHost
}

// keepNS puts ns= back on a URL the host itself handed out (a tag list's
// next page) if it dropped it.
func (r *route) keepNS(raw string) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || !r.wantsNS(u.Host) {
		return raw
	}
	q := u.Query()
	if q.Get("ns") != "" {
		return raw
	}
	q.Set("ns", r.namespace)
	u.RawQuery = q.Encode()
	return u.String()
}

// addHeaders sets the headers of req's host that req does not already
// have, returning their names.
func (r *route) addHeaders(req *http.Request) []string {
	if r == nil {
		return nil
	}
	ep, ok := r.eps[hostKey(req.URL.Host)]
	if !ok {
		return nil
	}
	var added []string
	for k, vs := range ep.Header {
		k = http.CanonicalHeaderKey(k)
		if _, set := req.Header[k]; set || len(vs) == 0 || k == "User-Agent" {
			continue
		}
		req.Header[k] = append([]string(nil), vs...)
		added = append(added, k)
	}
	return added
}

// addedHeadersKey marks, in a request's context, the headers addHeaders
// set, for checkRedirect to take off a request leaving for another host.
type addedHeadersKey struct{}

func addedHeaders(ctx context.Context) []string {
	keys, _ := ctx.Value(addedHeadersKey{}).([]string)
	return keys
}
