// Package pullthrough makes a store a pull-through cache: it is the
// registry/server.Upstream that fetches what a client asks for and the
// store lacks through imagec's own engine (pull.Puller: its endpoints and
// mirrors, credentials, retries, resume and verification), records it in
// the store as a pull would, so garbage collection keeps it, and streams
// a blob to its clients while the blob is written.
//
// Concurrent requests share one upstream fetch: per tag or digest for
// manifests, per digest for blobs, the clients that join a blob's fetch
// late reading first what is already written. A tag the store holds is
// re-checked upstream with a HEAD once it is older than the tag TTL
// (WithTagTTL); a digest never is. A client never receives a blob's last
// byte before the whole blob verified: on a mismatch its stream is cut,
// and nothing is committed.
package pullthrough

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/server"
)

// DefaultTagTTL is how long a tag the cache checked is answered from the
// store before the upstream is asked again.
const DefaultTagTTL = 30 * time.Second

// Cache is a pull-through cache of one store. It is safe for concurrent
// use.
type Cache struct {
	store   content.Store
	puller  *pull.Puller
	ttl     time.Duration
	allowed map[string]bool

	docs singleflight.Group

	mu      sync.Mutex
	checked map[string]time.Time
	fills   map[digest.Digest]*fill
}

var _ server.Upstream = (*Cache)(nil)

// Option configures New.
type Option func(*Cache)

// WithTagTTL sets how long a checked tag is answered from the store
// before the upstream is asked again (0: every time). Default
// DefaultTagTTL (30s).
func WithTagTTL(d time.Duration) Option {
	return func(c *Cache) {
		if d >= 0 {
			c.ttl = d
		}
	}
}

// WithRegistries allows fetching from the registries named (domains, as
// in image names: docker.io, registry.internal:5000) even when they are on
// a loopback or private address. Default: any registry on a public
// address, none on an internal one: the ns parameter is the client's
// word, and a cache must not become a way into its own network.
func WithRegistries(domains ...string) Option {
	return func(c *Cache) {
		for _, d := range domains {
			c.allowed[d] = true
		}
	}
}

// New returns a cache filling st through p, which must be a puller into
// st (imagec.Client.Puller gives one with the client's configuration).
func New(st content.Store, p *pull.Puller, opts ...Option) *Cache {
	c := &Cache{
		store: st, puller: p, ttl: DefaultTagTTL, allowed: map[string]bool{},
		checked: map[string]time.Time{}, fills: map[digest.Digest]*fill{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// allow refuses registries the cache may not fetch from; see
// WithRegistries.
func (c *Cache) allow(ref reference.Reference) error {
	if c.allowed[ref.Domain()] || c.allowed[ref.Host()] || !reference.IsInternal(ref.Host()) {
		return nil
	}
	return fmt.Errorf("registry %s is internal and not an upstream of this cache (allow it with WithRegistries): %w", ref.Domain(), errdefs.ErrNotFound)
}

// Manifest brings the document ref names into the store; see
// server.Upstream. The fetch runs for every client waiting on it, so a
// client that goes away does not cancel it for the others.
func (c *Cache) Manifest(ctx context.Context, ref reference.Reference, listed bool) error {
	if err := c.allow(ref); err != nil {
		return err
	}
	key := ref.String()
	if ref.Digest() == "" && c.fresh(key) {
		if _, err := c.store.Image(ctx, key); err == nil {
			return nil
		}
	}
	ch := c.docs.DoChan(key, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
		if ref.Digest() == "" {
			return nil, c.refreshTag(ctx, ref)
		}
		if listed {
			_, err := c.puller.FetchManifest(ctx, ref)
			return nil, err
		}
		_, err := c.puller.PullManifest(ctx, ref)
		return nil, err
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refreshTag checks a stored tag upstream with a HEAD, and pulls the
// tag's document when it moved or is not stored. A stored tag whose
// upstream does not answer stays what the store says until the TTL ends
// once more: each request must not wait on a registry that is down.
func (c *Cache) refreshTag(ctx context.Context, ref reference.Reference) error {
	key := ref.String()
	if entry, err := c.store.Image(ctx, key); err == nil {
		head, herr := c.puller.Resolve(registry.NoRetry(ctx), ref)
		if herr != nil {
			c.markChecked(key)
			return herr
		}
		if stored, err := graph.RepoDigest(ctx, c.store, entry); err == nil && head.Digest != "" && head.Digest == stored {
			c.markChecked(key)
			return nil
		}
	}
	if _, err := c.puller.PullManifest(ctx, ref); err != nil {
		return err
	}
	c.markChecked(key)
	return nil
}

func (c *Cache) fresh(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.checked[key]
	return ok && time.Since(at) < c.ttl
}

func (c *Cache) markChecked(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked[key] = time.Now()
}

// Blob starts the fetch of blob desc into the store, or joins the one
// running; see server.Upstream. The fetch goes on when its clients go
// away: what it brings is cached for the next.
func (c *Cache) Blob(ctx context.Context, ref reference.Reference, desc ocispec.Descriptor) (server.Arriving, error) {
	if err := c.allow(ref); err != nil {
		return nil, err
	}
	c.mu.Lock()
	f := c.fills[desc.Digest]
	if f == nil || f.ended() {
		// A fill that ended but is not yet forgotten has nothing for a new
		// client: it failed (a reader would get its error) or committed
		// (the caller found the blob missing, so it is gone again).
		f = newFill(c.store, desc)
		c.fills[desc.Digest] = f
		go c.run(context.WithoutCancel(ctx), ref, f)
	}
	c.mu.Unlock()
	return &reader{f: f}, nil
}

// run fetches f's blob and ends f with the outcome.
func (c *Cache) run(ctx context.Context, ref reference.Reference, f *fill) {
	err := c.puller.FetchBlob(ctx, ref, f.desc, pull.WithIngestWriter(f.wrap))
	f.finish(err)
	c.mu.Lock()
	if c.fills[f.desc.Digest] == f {
		delete(c.fills, f.desc.Digest)
	}
	c.mu.Unlock()
}
