package registry

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

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
