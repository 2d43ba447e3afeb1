package local

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestIngestDigest(t *testing.T) {
	t.Parallel()
	d := digest.FromString("x")
	for _, tc := range []struct {
		name string
		want digest.Digest
	}{
		{"sha256-" + d.Encoded(), d},
		{"sha256-short", ""},
		{"junk", ""},
		{"md5-" + strings.Repeat("0", 32), ""},
	} {
		if got := ingestDigest(tc.name); got != tc.want {
			t.Errorf("ingestDigest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
