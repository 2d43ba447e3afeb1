package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Serve over TLS answers, and returns nil once its context ends.
func TestServeTLSAndShutdown(t *testing.T) {
	t.Parallel()
	// httptest's server holds a certificate for 127.0.0.1 and a client
	// that trusts it.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, New(newStore(t)), WithTLS(&tls.Config{Certificates: ts.TLS.Certificates}), WithShutdownGrace(time.Second))
	}()
	resp, err := ts.Client().Get("https://" + ln.Addr().String() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/ over TLS = %d %v", resp.StatusCode, resp.Header)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after its context ended = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
