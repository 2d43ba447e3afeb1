package auth

import "testing"

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
	}
	for _, tt := range tests {
		if got := scopeForRequest(tt.method, tt.path); got != tt.want {
			t.Errorf("scopeForRequest(%s, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
