package pull

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// Endpoint is a place a registry's repositories can be pulled from: a
// mirror, or the registry itself.
type Endpoint struct {
	// Host is host[:port] as dialed.
	Host string
	// Prefix is an optional path the mirror serves the repositories under.
	Prefix string
	// Root is the API's path on Host; "" is "/v2" (see registry.Endpoint).
	Root string
	// Header is sent on every request to Host for this registry.
	Header http.Header
	// NoResolve: Host is not asked what a tag points to, only for content
	// by digest (a hosts.toml host without the "resolve" capability). A
	// tag is resolved further down the list; its content is asked for
	// here first all the same.
	NoResolve bool
	// NoPull: Host only resolves tags; content by digest (index entries,
	// configs, layers) comes from the endpoints that may pull.
	NoPull bool
}

// WithEndpoints tells the Puller where to pull a registry domain's images
// from, in order: mirrors first, the place the registry itself is reached
// last. The list is complete: a registry missing from it is not asked (as
// a hosts.toml server that names a mirror means), and an empty list means
// the registry alone. An error (a hosts.toml that does not parse) fails
// the pull. Every request to an endpoint whose host is not the registry's
// own carries ns=<domain>. A mirror that fails, or lacks the image, is
// skipped. Default: the registry only.
func WithEndpoints(f func(domain string) ([]Endpoint, error)) Option {
	return func(p *Puller) { p.endpoints = f }
}

// remote is ref as one endpoint serves it.
type remote struct {
	ref reference.Reference
	// resolve and pull are the endpoint's capabilities; failed is set when
	// it failed this pull, so that it is not asked again.
	resolve, pull, failed bool
}

// remotes are the places to try for ref, one per endpoint, and the client
// view that speaks to them.
func (p *Puller) remotes(ref reference.Reference) ([]*remote, *registry.Client, error) {
	var eps []Endpoint
	if p.endpoints != nil {
		var err error
		if eps, err = p.endpoints(ref.Domain()); err != nil {
			return nil, nil, err
		}
	}
	if len(eps) == 0 {
		eps = []Endpoint{{Host: ref.Host()}}
	}
	var out []*remote
	var via []registry.Endpoint
	for _, ep := range eps {
		at, err := ep.Reference(ref)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, &remote{ref: at, resolve: !ep.NoResolve, pull: !ep.NoPull})
		if ep.Root != "" || len(ep.Header) > 0 {
			via = append(via, registry.Endpoint{Host: ep.Host, Root: ep.Root, Header: ep.Header})
		}
	}
	return out, p.client.Via(ref.Domain(), via...), nil
}

// Reference is ref as ep serves it: the same tag or digest under ep's host
// and prefix; ref itself when ep is ref's registry. Errors wrap
// errdefs.ErrInvalidArgument: a prefix can make a name too long.
func (ep Endpoint) Reference(ref reference.Reference) (reference.Reference, error) {
	if ep.Host == ref.Host() && ep.Prefix == "" {
		return ref, nil
	}
	name := ep.Host + "/" + ref.Path()
	if ep.Prefix != "" {
		name = ep.Host + "/" + strings.Trim(ep.Prefix, "/") + "/" + ref.Path()
	}
	r, err := reference.Parse(name + suffix(ref))
	if err != nil {
		return reference.Reference{}, fmt.Errorf("mirror %s of %s: %w", ep.Host, ref.Domain(), err)
	}
	return r, nil
}

func suffix(ref reference.Reference) string {
	if ref.Digest() != "" {
		return "@" + ref.Digest().String()
	}
	return ":" + ref.Tag()
}

// source is the endpoint the image's manifest came from.
func (j *job) source() reference.Reference { return j.remotes[j.src].ref }

// contentRemotes are where content by digest is asked for, in order: every
// endpoint that may pull and has not failed, so a pull-only mirror ahead
// of the one that resolved the tag is asked first.
func (j *job) contentRemotes() []*remote {
	var out []*remote
	for _, r := range j.remotes {
		if r.pull && !r.failed {
			out = append(out, r)
		}
	}
	return out
}

// fallBack reports whether a failure at remote i should send the pull on
// to the next endpoint that may serve it (next, or nil when there is none):
// anything but the user's own cancellation. The failed endpoint is not
// asked again.
func (j *job) fallBack(ctx context.Context, i int, next *remote, err error) bool {
	j.remotes[i].failed = true
	if ctx.Err() != nil || next == nil {
		return false
	}
	j.emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("mirror %s failed, trying %s: %v", j.remotes[i].ref.Host(), next.ref.Host(), err)})
	return true
}

// fetchByDigest fetches a manifest the top one names (an index entry) from
// the first endpoint that may pull and has it, each but the last handing
// over at once.
func (j *job) fetchByDigest(ctx context.Context, want digest.Digest) (*document, error) {
	rs := j.contentRemotes()
	if len(rs) == 0 {
		return nil, fmt.Errorf("manifest %s: no endpoint may pull: %w", want, errdefs.ErrNotFound)
	}
	var err error
	for k, r := range rs {
		try := ctx
		if k < len(rs)-1 {
			try = registry.NoRetry(ctx)
		}
		var doc *document
		if doc, err = j.fetchManifest(try, r.ref, want); err == nil {
			return doc, nil
		}
		if ctx.Err() != nil || k == len(rs)-1 {
			break
		}
		j.emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("mirror %s failed, trying %s: %v", r.ref.Host(), rs[k+1].ref.Host(), err)})
	}
	return nil, err
}
