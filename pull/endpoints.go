package pull

import (
	"context"
	"fmt"
	"strings"

	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
)

// Endpoint is a place a registry's repositories can be pulled from: a
// mirror, or the registry itself.
type Endpoint struct {
	// Host is host[:port] as dialed.
	Host string
	// Prefix is an optional path the mirror serves the repositories under.
	Prefix string
}

// WithEndpoints tells the Puller where to pull a registry domain's images
// from, in order: mirrors first, the registry itself last. Default: the
// registry only. A mirror that fails, or lacks the image, is skipped.
func WithEndpoints(f func(domain string) []Endpoint) Option {
	return func(p *Puller) { p.endpoints = f }
}

// remotes are the references to try for ref, one per endpoint, the
// registry itself last.
func (p *Puller) remotes(ref reference.Reference) ([]reference.Reference, error) {
	if p.endpoints == nil {
		return []reference.Reference{ref}, nil
	}
	var out []reference.Reference
	for _, ep := range p.endpoints(ref.Domain()) {
		if ep.Host == ref.Host() && ep.Prefix == "" {
			continue // the upstream, added last below
		}
		name := ep.Host + "/" + ref.Path()
		if ep.Prefix != "" {
			name = ep.Host + "/" + strings.Trim(ep.Prefix, "/") + "/" + ref.Path()
		}
		r, err := reference.Parse(name + suffix(ref))
		if err != nil {
			return nil, fmt.Errorf("mirror %s of %s: %w", ep.Host, ref.Domain(), err)
		}
		out = append(out, r)
	}
	return append(out, ref), nil
}

func suffix(ref reference.Reference) string {
	if ref.Digest() != "" {
		return "@" + ref.Digest().String()
	}
	return ":" + ref.Tag()
}

// source is the endpoint the image's manifest came from, where its blobs
// are looked for first.
func (j *job) source() reference.Reference { return j.remotes[j.src] }

// fallBack reports whether a failure at a mirror should send the pull on to
// the next endpoint: anything but the user's own cancellation.
func (j *job) fallBack(ctx context.Context, i int, err error) bool {
	if ctx.Err() != nil || i == len(j.remotes)-1 {
		return false
	}
	j.emit(progress.Event{Action: progress.Status, Message: fmt.Sprintf("mirror %s failed, trying %s: %v", j.remotes[i].Host(), j.remotes[i+1].Host(), err)})
	return true
}
