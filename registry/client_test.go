package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestDefaultTransport(t *testing.T) {
	t.Parallel()
	rt := newBaseTransport(nil, false, nil)
	if rt.Proxy == nil {
		t.Error("proxy environment variables are ignored")
	}
	if !rt.ForceAttemptHTTP2 || rt.MaxIdleConnsPerHost != 16 || rt.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("transport: http2 %v, idle per host %d, skip verify %v",
			rt.ForceAttemptHTTP2, rt.MaxIdleConnsPerHost, rt.TLSClientConfig.InsecureSkipVerify)
	}
}

// Concurrent first requests to a host share one ping, and every request
// carries the configured User-Agent.
func TestConcurrentFirstUseSharesPing(t *testing.T) {
	t.Parallel()
	var pings, badUA counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "test-agent/1" {
			badUA.hit()
		}
		if r.URL.Path == "/v2/" {
			pings.hit()
			return
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	c := newTestClient(t, WithUserAgent("test-agent/1"))
	ref := refOn(t, srv, "repo:tag")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.GetManifest(context.Background(), ref, nil); err != nil {
				t.Errorf("GetManifest: %v", err)
			}
		})
	}
	wg.Wait()
	if got := pings.get(); got != 1 {
		t.Errorf("/v2/ pinged %d times, want 1", got)
	}
	if got := badUA.get(); got != 0 {
		t.Errorf("%d requests without the configured User-Agent", got)
	}
}
