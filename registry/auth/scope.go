package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// scopeForRequest derives the token scope a distribution API request needs
// from its path, "/v2/<name>/(manifests|blobs|tags)/...": pull for reads,
// pull,push for writes. A cross-repository mount (POST
// .../blobs/uploads/?mount=<digest>&from=<repo>) also needs pull on the
// source, "repository:<name>:pull,push repository:<from>:pull": token
// servers (Distribution's, Docker Hub's) take several scopes at once, and
// the registry refuses the mount with a token lacking either. It returns ""
// for paths outside a repository (the "/v2/" ping, the catalog), which
// share one scope-less cache entry.
func scopeForRequest(method string, u *url.URL) string {
	name := repositoryFromPath(u.Path)
	if name == "" {
		return ""
	}
	actions := "pull"
	switch method {
	case http.MethodGet, http.MethodHead, "":
	default:
		actions = "pull,push"
	}
	scope := "repository:" + name + ":" + actions
	if from := mountSource(method, u); from != "" && from != name {
		scope += " repository:" + from + ":pull"
	}
	return scope
}

// mountSource is the from= repository of a mount request, "" for any other
// request or a name no scope can carry.
func mountSource(method string, u *url.URL) string {
	if method != http.MethodPost || !strings.HasSuffix(u.Path, "/blobs/uploads/") {
		return ""
	}
	q := u.Query()
	if from := q.Get("from"); q.Get("mount") != "" && validRepoName(from) {
		return from
	}
	return ""
}

// repositoryFromPath returns <name> of a "/v2/<name>/<kind>/..." path, or ""
// when path has no such shape. The API may sit under a path of its own (a
// mirror at "/cache/v2/..."), so <name> starts after the first "/v2/"; a
// path-prefixed proxy project ("/v2/dockerhub/library/alpine/...") thus
// asks for the repository as its registry names it, prefix included.
// Repository names may contain path components equal to "manifests",
// "blobs" or "tags", so the split point is the last position where the
// remainder has the exact shape of an API route.
func repositoryFromPath(path string) string {
	i := strings.Index(path, "/v2/")
	if i < 0 {
		return ""
	}
	rest := path[i+len("/v2/"):]
	segs := strings.Split(rest, "/")
	for i := len(segs) - 2; i >= 1; i-- {
		if isRouteTail(segs[i], segs[i+1:]) {
			name := strings.Join(segs[:i], "/")
			if validRepoName(name) {
				return name
			}
			return ""
		}
	}
	return ""
}

// isRouteTail reports whether kind/tail is the end of a distribution route:
// manifests/<ref>, blobs/<digest>, blobs/uploads/[<uuid>], tags/list.
func isRouteTail(kind string, tail []string) bool {
	switch kind {
	case "manifests":
		return len(tail) == 1 && tail[0] != ""
	case "blobs":
		if len(tail) == 1 {
			return tail[0] != ""
		}
		return len(tail) == 2 && tail[0] == "uploads"
	case "tags":
		return len(tail) == 1 && tail[0] == "list"
	}
	return false
}

// validRepoName keeps scope strings well formed: a name with characters
// outside the distribution grammar would produce a scope the token server
// rejects or, worse, one with extra ":" or " " that means something else.
func validRepoName(name string) bool {
	if name == "" {
		return false
	}
	for _, comp := range strings.Split(name, "/") {
		if comp == "" {
			return false
		}
		for i := 0; i < len(comp); i++ {
			c := comp[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}
