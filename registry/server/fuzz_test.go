package server

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// FuzzParseRoute: whatever the path, a route that parses has a name of
// the API's grammar (no "..", no empty component) and, for blobs and
// referrers, a valid digest.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/v2/", "/v2/library/alpine/manifests/latest", "/v2/a/b/blobs/sha256:" + strings.Repeat("a", 64),
		"/v2/a/tags/list", "/v2/a/referrers/sha256:" + strings.Repeat("0", 64), "/v2/../../etc/manifests/x",
		"/v2/a/manifests/manifests/manifests/x", "/v2//blobs/x", "/v3/a/blobs/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parseRoute(p)
		if err != nil || rt.kind == kindBase {
			return
		}
		for _, c := range strings.Split(rt.name, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("%q: name %q has component %q", p, rt.name, c)
			}
		}
		if len(rt.name) > maxNameLength {
			t.Fatalf("%q: name of %d bytes", p, len(rt.name))
		}
		switch rt.kind {
		case kindBlob, kindReferrers:
			if _, err := digest.Parse(rt.ref); err != nil {
				t.Fatalf("%q: ref %q is not a digest", p, rt.ref)
			}
		case kindManifest:
			if strings.ContainsAny(rt.ref, "/\\") || rt.ref == "" {
				t.Fatalf("%q: ref %q", p, rt.ref)
			}
		}
	})
}

// FuzzParseRange: a range that parses lies within the blob and is not
// empty; one that fails is one no byte satisfies.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=10-19", "bytes=-5", "bytes=5-1", "bytes=0-0,2-3", "bytes=99999999999999999999-", "items=1-2", "bytes= 3-4"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		start, end, partial, err := parseRange(h, size)
		if err != nil {
			return
		}
		if start < 0 || end > size || start > end {
			t.Fatalf("parseRange(%q, %d) = [%d, %d)", h, size, start, end)
		}
		if partial && start == end {
			t.Fatalf("parseRange(%q, %d): an empty part", h, size)
		}
		if !partial && (start != 0 || end != size) {
			t.Fatalf("parseRange(%q, %d): whole blob as [%d, %d)", h, size, start, end)
		}
	})
}
