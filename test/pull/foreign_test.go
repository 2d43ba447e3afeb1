package pull_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// A public registry's manifest may not send imagec to an internal address
// through a foreign layer's URL: the URL is skipped (never requested) and
// the layer is asked of the registry instead, which here lacks it.
func TestForeignLayerURLOnInternalAddressSkippedForPublicRegistry(t *testing.T) {
	t.Parallel()
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(internal.Close)
	reg := testregistry.Start(t)
	img, err := fixtures.ForeignLayerImageAt(17, 1, 4<<10, linuxAMD64, internal.URL+"/foreign/")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "win/app", "latest", img); err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(publicName(reg.Host), registry.WithInsecureAllowHTTP(true), registry.WithRetry(1, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = pull.New(client, st).Pull(context.Background(), reference.MustParse("registry.example.com/win/app"), pull.WithForeignLayers(true))
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the internal address was requested %d times for a public registry", n)
	}
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("got %v, want the registry's not found for the foreign layer", err)
	}
	foreign := img.Layers[len(img.Layers)-1].Digest
	asked := false
	for _, r := range reg.Requests() {
		asked = asked || strings.HasSuffix(r.Path, "/blobs/"+foreign.String())
	}
	if !asked {
		t.Fatal("the foreign layer was not asked of the registry")
	}
}
