package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/testregistry"
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
	got, err := c.Tags(ctx, regRef(t, reg, "paged/repo"), TagPageSize(3))
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

// Next links are the registry's to give, on its own host, and must move on.
func TestTagsLinkRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		link func(r *http.Request) string
		body string
		want error
	}{
		{"another host", func(*http.Request) string { return `<http://elsewhere.example/v2/x/tags/list?last=a>; rel="next"` }, `{"tags":["a"]}`, errdefs.ErrInvalidArgument},
		{"repeats", func(r *http.Request) string { return "<" + r.URL.Path + `?last=a>; rel="next"` }, `{"tags":["a"]}`, errdefs.ErrInvalidArgument},
		{"empty page", func(r *http.Request) string {
			return "<" + r.URL.Path + "?last=" + r.URL.Query().Get("last") + `z>; rel="next"`
		}, `{"tags":[]}`, errdefs.ErrInvalidArgument},
		{"not JSON", func(*http.Request) string { return "" }, `<html>`, errdefs.ErrInvalidArgument},
		{"prev only", func(r *http.Request) string { return "<" + r.URL.Path + `?last=0>; rel="prev"` }, `{"tags":["a"]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				if l := tt.link(r); l != "" {
					w.Header().Set("Link", l)
				}
				w.Write([]byte(tt.body))
			})
			_, err := newTestClient(t).Tags(context.Background(), refOn(t, srv, "x"))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestIsNextRel(t *testing.T) {
	t.Parallel()
	for params, want := range map[string]bool{
		`; rel="next"`: true, `; rel=next`: true, `; REL="prev next"`: true, `; title="next"`: false, `; rel="nextpage"`: false, ``: false,
	} {
		if got := isNextRel(params); got != want {
			t.Errorf("isNextRel(%q) = %v", params, got)
		}
	}
}
