//go:build !race

package pull_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/test/internal/faultproxy"
)

// Not under the race detector: the stream it watches is one goroutine's
// (the parts after it are raced in parts_test.go), and building and pushing
// its 30 MiB layer there takes 40 to 120 s on this machine.

// A link fast for the first part and for a while after it, then capped
// (a burst, then a limit): the one stream the probe chose is timed as it
// goes, and once a window of it runs slower than the split rate the rest
// comes in parts. The layer's GETs: the first part, one open range, then
// parts from where the stream stopped.
func TestPullSplitsWhenTheStreamSlows(t *testing.T) {
	t.Parallel()
	e := newPartsEnvSize(t, 30<<20)
	e.proxy.Inject(e.onLayer(&faultproxy.Fault{
		Kind:  faultproxy.Blob,
		Match: func(r *http.Request) bool { return isStream(r.Header.Get("Range")) },
		Apply: func(w http.ResponseWriter, r *http.Request, up *http.Response, _ *faultproxy.Proxy) {
			defer up.Body.Close()
			for k, vs := range up.Header {
				w.Header()[k] = vs
			}
			w.WriteHeader(up.StatusCode)
			// 9 MiB at once, then 64 KiB every 5 ms (about 13 MB/s).
			if _, err := io.CopyN(w, up.Body, 9<<20); err != nil {
				return
			}
			buf := make([]byte, 64<<10)
			for {
				n, err := io.ReadFull(up.Body, buf)
				if n > 0 {
					if _, werr := w.Write(buf[:n]); werr != nil {
						return
					}
					http.NewResponseController(w).Flush()
				}
				if err != nil {
					return
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		},
	}))
	st, err := e.pull(t, pull.WithSplitRate(25e6))
	if err != nil {
		t.Fatal(err)
	}
	verifyStore(t, st)
	// 30 MiB: the first part (3 MiB), the stream cut after its first
	// slow window (at least 16 MiB in), and parts for the rest.
	parts, streams := e.rangeKinds()
	if streams != 1 || parts < 3 || parts > 8 {
		t.Errorf("%d part requests and %d longer ranges; want the first part, one stream, then the rest in parts", parts, streams)
	}
}
