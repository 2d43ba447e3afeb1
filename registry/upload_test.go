package registry

import (
	"net/url"
	"testing"
)

func TestParseUploadRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true}, {"0-0", 0, true}, {"0-99", 100, true}, {"bytes=0-99", 100, true},
		{"5-99", 0, false}, {"0-", 0, false}, {"0--1", 0, false}, {"0-x", 0, false}, {"99", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseUploadRange(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseUploadRange(%q) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// The registry's own query parameters are kept byte for byte.
func TestWithDigestKeepsQuery(t *testing.T) {
	t.Parallel()
	loc, _ := url.Parse("https://r.example/up/1?_state=a%2Bb%3D&sig=X")
	if got, want := withDigest(loc, "sha256:ab"), "https://r.example/up/1?_state=a%2Bb%3D&sig=X&digest=sha256%3Aab"; got != want {
		t.Errorf("withDigest = %s, want %s", got, want)
	}
}
