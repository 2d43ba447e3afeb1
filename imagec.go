// Package imagec opens a store and a registry client the way the imagec
// command does, so a program gets the CLI's behaviour in a few lines: the
// store at the default root (or one given), imagec's configuration file
// (mirrors, per-registry TLS) and containerd's hosts directory, Docker's
// credentials, and one transfer
// scheduler that every puller it makes shares.
//
//	c, err := imagec.Open()
//	res, err := c.Pull(ctx, reference.MustParse("alpine:3.20"))
//
// The packages underneath (content/local, registry, pull, ...) stay usable
// on their own for programs that want other wiring.
package imagec

import (
	"context"
	"sync"

	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/credentials"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/layers"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/push"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/transfer"
)

// Client is a store and the means to fill it. It is safe for concurrent
// use.
type Client struct {
	o     options
	store *local.Store
	sched *transfer.Scheduler

	once sync.Once
	cfg  *config.Config
	reg  *registry.Client
	err  error
}

// Open opens (creating if needed) the store and prepares a registry client,
// which is built on first use: commands that only read the store never
// read the configuration or the credentials.
func Open(opts ...Option) (*Client, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	st, err := local.Open(o.root)
	if err != nil {
		return nil, err
	}
	return &Client{o: o, store: st, sched: transfer.New(o.parallel)}, nil
}

// Store is the content store.
func (c *Client) Store() *local.Store { return c.store }

// Scheduler is the transfer scheduler the client's pullers share.
func (c *Client) Scheduler() *transfer.Scheduler { return c.sched }

// Config is imagec's configuration file, read on first use; a missing file
// is an empty configuration.
func (c *Client) Config() (*config.Config, error) {
	c.init()
	return c.cfg, c.err
}

// Registry is the registry client: the configuration's per-registry TLS
// settings, the options' TLS settings and credentials (Docker's
// config.json unless WithCredentials says otherwise).
func (c *Client) Registry() (*registry.Client, error) {
	c.init()
	return c.reg, c.err
}

func (c *Client) init() {
	c.once.Do(func() { c.reg, c.cfg, c.err = newRegistry(c.o) })
}

// Registry builds the registry client Open's client would, without opening
// a store: for commands that only talk to registries (login, tags).
func Registry(opts ...Option) (*registry.Client, *config.Config, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	return newRegistry(o)
}

func newRegistry(o options) (*registry.Client, *config.Config, error) {
	cfg, err := config.Load(o.configPath)
	if err != nil {
		return nil, nil, err
	}
	if err := loadHostsDir(o, cfg); err != nil {
		return nil, nil, err
	}
	creds := o.creds
	if creds == nil {
		store, err := credentials.Load(o.dockerConfig)
		if err != nil {
			return nil, nil, err
		}
		creds = store.CredentialFunc()
	}
	opts := []registry.Option{
		registry.WithCredentials(creds),
		registry.WithInsecureSkipVerify(o.skipVerify),
		registry.WithInsecureAllowHTTP(o.allowHTTP),
		registry.WithHostOptions(HostOptions(cfg)),
	}
	if o.caFile != "" {
		opts = append(opts, registry.WithCAFile(o.caFile))
	}
	reg, err := registry.New(append(opts, o.registry...)...)
	if err != nil {
		return nil, nil, err
	}
	return reg, cfg, nil
}

// Puller returns a puller into the store with the configuration's mirrors,
// on the client's scheduler. opts come last and win.
func (c *Client) Puller(opts ...pull.Option) (*pull.Puller, error) {
	reg, err := c.Registry()
	if err != nil {
		return nil, err
	}
	base := []pull.Option{pull.WithScheduler(c.sched), pull.WithEndpoints(Endpoints(c.cfg)),
		pull.WithPartsFor(func(domain string) int { return c.cfg.For(domain).Parts })}
	return pull.New(reg, c.store, append(base, opts...)...), nil
}

// Pusher returns a pusher with the client's registry client, on its
// scheduler. opts come last and win.
func (c *Client) Pusher(opts ...push.Option) (*push.Pusher, error) {
	reg, err := c.Registry()
	if err != nil {
		return nil, err
	}
	return push.New(reg, append([]push.Option{push.WithScheduler(c.sched)}, opts...)...), nil
}

// Pull pulls ref into the store; see pull.Puller.Pull.
func (c *Client) Pull(ctx context.Context, ref reference.Reference, opts ...pull.PullOption) (*pull.Result, error) {
	p, err := c.Puller()
	if err != nil {
		return nil, err
	}
	return p.Pull(ctx, ref, opts...)
}

// Find resolves a reference, an image ID or an ID prefix to the stored
// images it names; see image.Find.
func (c *Client) Find(ctx context.Context, arg string) ([]*image.Image, error) {
	return image.Find(ctx, c.store, arg)
}

// Layers is the store's unpacked-layer area.
func (c *Client) Layers() (*layers.Store, error) { return layers.OpenArea(c.store) }

// GC removes what no name references: blobs, partial downloads and
// unpacked layers; see gc.Collect.
func (c *Client) GC(ctx context.Context, opts ...gc.Option) (*gc.Report, error) {
	ls, err := c.Layers()
	if err != nil {
		return nil, err
	}
	return gc.Collect(ctx, c.store, append([]gc.Option{gc.WithSweeper(ls.Sweeper(c.store))}, opts...)...)
}

// Close releases the registry client's idle connections.
func (c *Client) Close() {
	if c.reg != nil {
		c.reg.Close()
	}
}
