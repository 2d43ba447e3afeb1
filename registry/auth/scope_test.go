package auth

import (
	"net/url"
	"testing"
)

func TestScopeForRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/v2/", ""},
		{"GET", "/v2/_catalog", ""},
		{"GET", "/v2/library/alpine/manifests/latest", "repository:library/alpine:pull"},
		{"HEAD", "/v2/library/alpine/manifests/sha256:abc", "repository:library/alpine:pull"},
		{"GET", "/v2/a/b/c/blobs/sha256:abc", "repository:a/b/c:pull"},
		{"GET", "/v2/foo/tags/list", "repository:foo:pull"},
		{"POST", "/v2/foo/blobs/uploads/", "repository:foo:pull,push"},
		{"PATCH", "/v2/foo/blobs/uploads/0f1e", "repository:foo:pull,push"},
		{"PUT", "/v2/foo/manifests/v1", "repository:foo:pull,push"},
		// A mount needs pull on its source too; a bad or absent source adds nothing.
		{"POST", "/v2/b/dst/blobs/uploads/?mount=sha256:abc&from=a/src", "repository:b/dst:pull,push repository:a/src:pull"},
		{"POST", "/v2/b/dst/blobs/uploads/?mount=sha256:abc&from=b/dst", "repository:b/dst:pull,push"},
		{"POST", "/v2/b/dst/blobs/uploads/?from=a/src", "repository:b/dst:pull,push"},
		{"POST", "/v2/b/dst/blobs/uploads/?mount=sha256:abc&from=A:x%20y", "repository:b/dst:pull,push"},
		{"GET", "/v2/b/dst/blobs/uploads/?mount=sha256:abc&from=a/src", "repository:b/dst:pull"},
		// Components named like route keywords belong to the name.
		{"GET", "/v2/org/manifests/app/manifests/v1", "repository:org/manifests/app:pull"},
		{"GET", "/v2/blobs/blobs/sha256:abc", "repository:blobs:pull"},
		{"GET", "/v2/tags/tags/list", "repository:tags:pull"},
		// Not API routes, or names a scope cannot carry.
		{"GET", "/v2/foo/manifests/", ""},
		{"GET", "/v2/foo/tags/other", ""},
		{"GET", "/v2/manifests/latest", ""},
		{"GET", "/v2/Foo/manifests/latest", ""},
		{"GET", "/v2/foo:bar/manifests/latest", ""},
		{"GET", "/v2/foo bar/manifests/latest", ""},
		{"GET", "/v2//foo/manifests/latest", ""},
		{"GET", "/other/foo/manifests/latest", ""},
		// An API under a mirror's path, and a path-prefixed proxy project.
		{"GET", "/cache/v2/library/alpine/manifests/latest", "repository:library/alpine:pull"},
		{"GET", "/v2/dockerhub/library/alpine/blobs/sha256:abc", "repository:dockerhub/library/alpine:pull"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := scopeForRequest(tt.method, u); got != tt.want {
			t.Errorf("scopeForRequest(%s, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
