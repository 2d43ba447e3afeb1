package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"time"
)

// ServeOption configures Serve.
type ServeOption func(*serveOptions)

type serveOptions struct {
	tls      *tls.Config
	grace    time.Duration
	errorLog *log.Logger
}

// WithTLS serves HTTPS with cfg (its certificates). Default: plain HTTP.
func WithTLS(cfg *tls.Config) ServeOption { return func(o *serveOptions) { o.tls = cfg } }

// WithShutdownGrace is how long Serve waits, once its context ends, for
// the requests in flight (a blob half sent) before closing their
// connections. Default 10s.
func WithShutdownGrace(d time.Duration) ServeOption { return func(o *serveOptions) { o.grace = d } }

// WithErrorLog receives the HTTP server's own errors (TLS handshakes that
// failed, ...). Default: the log package's standard logger.
func WithErrorLog(l *log.Logger) ServeOption { return func(o *serveOptions) { o.errorLog = l } }

// Serve answers on ln with h until ctx ends, then stops accepting
// connections, lets the requests in flight finish (WithShutdownGrace)
// and closes what is left. It returns nil after a shutdown ctx asked for.
// No request is given a write deadline: a large blob to a slow client
// takes what it takes, as long as the client reads.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opts ...ServeOption) error {
	o := serveOptions{grace: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.tls != nil {
		ln = tls.NewListener(ln, o.tls)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          o.errorLog,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
