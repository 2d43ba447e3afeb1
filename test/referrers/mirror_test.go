package referrers_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// Referrers come from the endpoint the image came from, asked as that
// endpoint is asked (its headers, ns=, API root): a mirror that refuses
// requests without its header (as Dragonfly's daemon tells registries
// apart) still yields them, with the API and with the tag schema.
func TestReferrersThroughAMirror(t *testing.T) {
	t.Parallel()
	for _, api := range []bool{true, false} {
		t.Run(fmt.Sprintf("api=%v", api), func(t *testing.T) {
			t.Parallel()
			c, err := registry.New()
			if err != nil {
				t.Fatal(err)
			}
			var opts []testregistry.Option
			if api {
				opts = append(opts, testregistry.WithReferrersAPI(1))
			}
			s := seed(t, c, opts...)
			mirror := faultproxy.Start(t, s.reg.URL)
			mirror.Inject(&faultproxy.Fault{
				Kind:  faultproxy.Any,
				Match: func(r *http.Request) bool { return r.Header.Get("X-Mirror-For") != s.reg.Host },
				Apply: func(w http.ResponseWriter, _ *http.Request, up *http.Response, _ *faultproxy.Proxy) {
					up.Body.Close()
					http.Error(w, "which registry?", http.StatusNotFound)
				},
			})
			st, err := local.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			p := pull.New(c, st, pull.WithEndpoints(func(string) ([]pull.Endpoint, error) {
				return []pull.Endpoint{{Host: mirror.Host, Header: http.Header{"X-Mirror-For": {s.reg.Host}}}}, nil
			}))
			if _, err := p.Pull(ctx, s.ref, pull.WithReferrers(0, 0)); err != nil {
				t.Fatal(err)
			}
			assertStored(t, st, s)
		})
	}
}
