package registry

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
)

// Without a digest from HEAD (none sent, or no HEAD at all), the digest is
// the GET's bytes', checked against what the registry claims.
func TestResolveFallsBackToGET(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2}`)
	sum := digest.FromBytes(body)
	tests := []struct {
		name       string
		headStatus int
		getDigest  string
		pin        digest.Digest
		want       error
	}{
		{"HEAD without digest", http.StatusOK, "", "", nil},
		{"no HEAD", http.StatusMethodNotAllowed, sum.String(), "", nil},
		{"pinned", http.StatusOK, "", sum, nil},
		{"GET header lies", http.StatusOK, digest.FromString("x").String(), "", errdefs.ErrDigestMismatch},
		{"pinned, other bytes", http.StatusOK, "", digest.FromString("x"), errdefs.ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gets counter
			srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				if r.Method == http.MethodHead {
					w.WriteHeader(tt.headStatus)
					return
				}
				gets.hit()
				if tt.getDigest != "" {
					w.Header().Set("Docker-Content-Digest", tt.getDigest)
				}
				w.Write(body)
			})
			ref := refOn(t, srv, "x:1")
			if tt.pin != "" {
				ref = ref.WithDigest(tt.pin)
			}
			desc, err := newTestClient(t).Resolve(context.Background(), ref, nil)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && (desc.Digest != sum || desc.Size != int64(len(body)) || gets.get() != 1) {
				t.Fatalf("Resolve = %+v after %d GETs", desc, gets.get())
			}
		})
	}
}
