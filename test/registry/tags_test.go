package registry_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// Ten tags read three at a time: four pages, by the registry's Link
// headers, each tag once and in order.
func TestTagsPagination(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	c := newTestClient(t)
	ctx := context.Background()
	img := fixture(t, 21, fixtures.OCI)
	var want []string
	for i := range 10 {
		tag := fmt.Sprintf("v%02d", i)
		want = append(want, tag)
		if i == 0 {
			pushImage(t, c, regRef(t, reg, "paged/repo:"+tag), img)
			continue
		}
		if _, err := c.PutManifest(ctx, regRef(t, reg, "paged/repo:"+tag), img.ManifestDesc.MediaType, img.Manifest); err != nil {
			t.Fatal(err)
		}
	}
	reg.ResetRequests()
	got, err := c.Tags(ctx, regRef(t, reg, "paged/repo"), registry.TagPageSize(3))
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Tags = %v, %v; want %v", got, err, want)
	}
	var pages []string
	for _, r := range reg.Requests() {
		if strings.HasSuffix(r.Path, "/tags/list") {
			pages = append(pages, r.Query)
		}
	}
	if len(pages) != 4 || pages[0] != "n=3" || !strings.Contains(pages[1], "last=v02") {
		t.Fatalf("pages asked for: %q", pages)
	}
	if all, err := c.Tags(ctx, regRef(t, reg, "paged/repo")); err != nil || !slices.Equal(all, want) {
		t.Fatalf("Tags without a page size = %v, %v", all, err)
	}
	if _, err := c.Tags(ctx, regRef(t, reg, "paged/none")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown repository: %v", err)
	}
}
