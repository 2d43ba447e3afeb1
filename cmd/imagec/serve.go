package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/pullthrough"
	"github.com/imagec/imagec/registry/server"
)

type serveFlags struct {
	addr            string
	tlsCert, tlsKey string
	pullThrough     bool
	tagTTL          time.Duration
	upstreams       []string
	parallel        int
	shutdownGrace   time.Duration
}

func newServeCommand(g *globals) *cobra.Command {
	var sf serveFlags
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve the store as a read-only registry, or a pull-through cache",
		Long: "Serve the store over the OCI distribution API, read-only: manifests by tag and digest,\n" +
			"blobs with Range, tags lists and referrers, each exactly as the store verified it. The\n" +
			"ns query parameter containerd and Spegel send a mirror (?ns=docker.io) picks the registry;\n" +
			"without it, a repository path held under one registry only is that one\n" +
			"(crane pull HOST:PORT/library/alpine:3.20). With --pull-through, what the store lacks is\n" +
			"fetched from the registry (ns, else the one the name implies) with imagec's configuration,\n" +
			"mirrors and credentials, recorded as a pull would and streamed on as it arrives.\n" +
			"A line per request goes to stderr. SIGINT or SIGTERM stops it gracefully.",
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if (sf.tlsCert == "") != (sf.tlsKey == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together: %w", errdefs.ErrInvalidArgument)
			}
			if sf.parallel < 1 || sf.tagTTL < 0 {
				return fmt.Errorf("--max-concurrent-downloads must be at least 1 and --tag-ttl not negative: %w", errdefs.ErrInvalidArgument)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, g, &sf) },
	}
	f := cmd.Flags()
	f.StringVar(&sf.addr, "addr", "127.0.0.1:5000", "address to listen on, host:port (port 0 picks a free one)")
	f.StringVar(&sf.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain), with --tls-key")
	f.StringVar(&sf.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	f.BoolVar(&sf.pullThrough, "pull-through", false, "fetch what the store lacks from its registry, keep it, and stream it on")
	f.DurationVar(&sf.tagTTL, "tag-ttl", pullthrough.DefaultTagTTL, "with --pull-through, how long a tag is answered from the store before the registry is asked again")
	f.StringSliceVar(&sf.upstreams, "upstream", nil, "with --pull-through, a registry on a loopback or private address it may fetch from (repeatable; public registries are always allowed)")
	f.IntVar(&sf.parallel, "max-concurrent-downloads", pull.DefaultMaxConcurrentDownloads, "with --pull-through, how many blobs to fetch at once")
	f.DurationVar(&sf.shutdownGrace, "shutdown-grace", 10*time.Second, "on SIGINT or SIGTERM, how long requests in flight may take to finish")
	return cmd
}

func runServe(cmd *cobra.Command, g *globals, sf *serveFlags) error {
	ctx := cmd.Context()
	c, err := g.open(imagec.WithMaxConcurrentTransfers(sf.parallel))
	if err != nil {
		return err
	}
	defer c.Close()
	opts := []server.Option{server.WithAccessLog(os.Stderr)}
	if sf.pullThrough {
		p, err := c.Puller()
		if err != nil {
			return err
		}
		cache := pullthrough.New(c.Store(), p, pullthrough.WithTagTTL(sf.tagTTL), pullthrough.WithRegistries(sf.upstreams...))
		opts = append(opts, server.WithUpstream(cache))
	}
	serveOpts := []server.ServeOption{
		server.WithShutdownGrace(sf.shutdownGrace),
		server.WithErrorLog(log.New(escapingWriter{os.Stderr}, "imagec serve: ", 0)),
	}
	scheme := "http"
	if sf.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(sf.tlsCert, sf.tlsKey)
		if err != nil {
			return fmt.Errorf("loading --tls-cert and --tls-key: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		serveOpts = append(serveOpts, server.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
		scheme = "https"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", sf.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w: %w", sf.addr, err, errdefs.ErrUnavailable)
	}
	mode := "read-only"
	if sf.pullThrough {
		mode = "pull-through"
	}
	printLine(os.Stdout, fmt.Sprintf("Serving %s (%s) on %s://%s", c.Store().Root(), mode, scheme, ln.Addr()))
	return server.Serve(ctx, ln, server.New(c.Store(), opts...), serveOpts...)
}

// escapingWriter writes each line escaped: the HTTP server's own errors
// quote what clients sent.
type escapingWriter struct{ w io.Writer }

func (e escapingWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		printLine(e.w, string(line))
	}
	return len(p), nil
}
