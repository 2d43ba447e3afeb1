package server

import (
	"net/http"
	"regexp"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// kind is what a request asks for.
type kind int

const (
	kindBase kind = iota
	kindManifest
	kindBlob
	kindTags
	kindReferrers
)

// route is a request path of the distribution API, checked: name is a
// repository path, ref a tag or digest (kindManifest) or a digest
// (kindBlob, kindReferrers).
type route struct {
	kind kind
	name string
	ref  string
}

// maxNameLength is the distribution spec's bound on a repository name.
const maxNameLength = 255

var (
	pathRe   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRe    = regexp.MustCompile(`^` + dref.TagRegexp.String() + `$`)
	domainRe = regexp.MustCompile(`^` + dref.DomainRegexp.String() + `$`)
)

// parseRoute splits an API path (/v2/<name>/manifests/<ref>, ...) into
// its parts, refusing what the API's grammar does not allow: nothing
// past this point sees a name that could climb out of a directory or a
// digest that is not one. The last /manifests/, /blobs/, /referrers/ or
// /tags/list decides, as repository names may contain those words.
func parseRoute(p string) (route, error) {
	if p == "/v2/" || p == "/v2" {
		return route{kind: kindBase}, nil
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return route{}, errNotFound("NOT_FOUND", "not a registry API path")
	}
	parts := strings.Split(rest, "/")
	n := len(parts)
	if n < 3 {
		return route{}, errNotFound("NOT_FOUND", "not a registry API path")
	}
	var r route
	switch {
	case parts[n-2] == "tags" && parts[n-1] == "list":
		r.kind = kindTags
	case parts[n-2] == "manifests":
		r.kind = kindManifest
	case parts[n-2] == "blobs":
		r.kind = kindBlob
	case parts[n-2] == "referrers":
		r.kind = kindReferrers
	default:
		return route{}, errNotFound("NOT_FOUND", "not a registry API path")
	}
	r.name = strings.Join(parts[:n-2], "/")
	if len(r.name) > maxNameLength || !pathRe.MatchString(r.name) {
		return route{}, &apiError{status: http.StatusBadRequest, code: "NAME_INVALID", message: "invalid repository name"}
	}
	if r.kind == kindTags {
		return r, nil
	}
	r.ref = parts[n-1]
	if r.kind == kindManifest && tagRe.MatchString(r.ref) {
		return r, nil
	}
	if _, err := digest.Parse(r.ref); err != nil {
		if r.kind == kindManifest {
			return route{}, &apiError{status: http.StatusBadRequest, code: "MANIFEST_INVALID", message: "invalid tag or digest"}
		}
		return route{}, &apiError{status: http.StatusBadRequest, code: "DIGEST_INVALID", message: "invalid digest"}
	}
	return r, nil
}

// validNamespace reports whether ns (the ns query parameter containerd
// and Spegel send a mirror) is a registry domain.
func validNamespace(ns string) bool {
	return len(ns) <= maxNameLength && domainRe.MatchString(ns)
}
