// Package server serves a content store as a read-only registry: the OCI
// distribution API's GET and HEAD of manifests (by tag and by digest),
// blobs (with Range), tags lists and referrers, for any number of
// concurrent clients. Writes are refused (405 UNSUPPORTED).
//
// What is served is what the store verified, byte for byte: a name's
// manifest is the document its registry served (for a Docker-typed image,
// the document imagec's wrapper index was made from, see graph.Original),
// never the wrapper; a manifest by digest is one a stored name of the
// repository reaches, and a blob one that repository's manifests list,
// committed (the ingest area of partial downloads is never read from). Blobs no name of the
// repository reaches are not served even when the store holds them:
// what a registry hands out under a repository is what that repository's
// manifests list, and a store shared by many images should not answer
// for blobs of images it no longer names.
//
// Names: the store holds full references (docker.io/library/alpine:3.20).
// The ns query parameter, which containerd and Spegel send a mirror
// (?ns=docker.io), names the registry; without it, a repository path that
// is the path of exactly one stored repository is that one (so
// `crane pull HOST/library/alpine:3.20` works), else the path read as an
// image name (`HOST/alpine`, `HOST/ghcr.io/org/app`).
//
// With an Upstream (WithUpstream) the server is a pull-through cache: a
// miss is fetched, recorded in the store and streamed on; see package
// pullthrough for imagec's engine as an Upstream.
package server

import (
	"context"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/reference"
)

// Upstream fills the store on a miss, for a pull-through cache.
type Upstream interface {
	// Manifest brings what ref (a repository with a tag or a digest)
	// names at its registry into the store, recording names as a pull
	// does, so the handler serves it from the store. A tag the store
	// holds may be answered from the store without asking (the Upstream
	// decides how long a tag stays fresh); a digest the store holds is
	// never asked for. listed says that a stored document of the
	// repository lists ref's digest (an index its platform manifests), so
	// the store keeps the document without a name of its own. On an
	// error the handler serves what the store holds under ref, if
	// anything: a registry that is down must not take the cache down
	// with it.
	Manifest(ctx context.Context, ref reference.Reference, listed bool) error
	// Blob starts (or joins) the fetch of blob desc of ref's repository
	// (ref pins desc's digest) into the store, readable as it arrives.
	Blob(ctx context.Context, ref reference.Reference, desc ocispec.Descriptor) (Arriving, error)
}

// Arriving is a blob on its way into the store.
type Arriving interface {
	// ReadAt reads into p the bytes from off, waiting (honouring ctx)
	// until some have arrived, and returns io.EOF at the blob's end. It
	// never returns the blob's last byte before the whole blob verified:
	// a stream that stops short is how a client learns that what it read
	// was not the blob. Any other error ends the response, cut off.
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	// Close says the reader is done; the fetch goes on for the store.
	Close() error
}

// Handler is the distribution API over a store. It is an http.Handler,
// safe for concurrent use.
type Handler struct {
	src   content.Source
	up    Upstream
	log   *accessLog
	reach reachCache
}

// Option configures New.
type Option func(*Handler)

// WithUpstream makes the handler a pull-through cache: what the store
// lacks is fetched through up. Default none: a miss is 404.
func WithUpstream(up Upstream) Option { return func(h *Handler) { h.up = up } }

// WithAccessLog writes a line per request to w (see accessLog for the
// format). Default none.
func WithAccessLog(w io.Writer) Option {
	return func(h *Handler) { h.log = &accessLog{w: w} }
}

// New serves src. Each request holds a lease of src (content.Leaser), so
// garbage collection leaves alone what is being served.
func New(src content.Source, opts ...Option) *Handler {
	h := &Handler{src: src, reach: reachCache{sets: map[string]*reachSet{}}}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ServeHTTP answers one request of the distribution API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.log.wrap(http.HandlerFunc(h.serve)).ServeHTTP(w, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, r, errUnsupported, "")
		return
	}
	rt, err := parseRoute(r.URL.Path)
	if err != nil {
		writeError(w, r, err, "NOT_FOUND")
		return
	}
	if rt.kind == kindBase {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		if r.Method == http.MethodGet {
			io.WriteString(w, "{}")
		}
		return
	}
	ctx := r.Context()
	release, err := h.src.Lease(ctx)
	if err != nil {
		writeError(w, r, err, "UNKNOWN")
		return
	}
	defer release()
	repo, err := h.repository(ctx, rt.name, r.URL.Query().Get("ns"))
	if err != nil {
		writeError(w, r, err, "NAME_UNKNOWN")
		return
	}
	switch rt.kind {
	case kindManifest:
		h.serveManifest(w, r, repo, rt.ref)
	case kindBlob:
		h.serveBlob(w, r, repo, digest.Digest(rt.ref))
	case kindTags:
		h.serveTags(w, r, repo, rt.name)
	case kindReferrers:
		h.serveReferrers(w, r, repo, digest.Digest(rt.ref))
	}
}
