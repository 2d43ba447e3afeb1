package progress

import (
	"math"
	"strings"
	"testing"
)

func TestHumanSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"},
		{512, "512B"},
		{999, "999B"},
		{1000, "1kB"},
		{1234, "1.234kB"},
		{5678, "5.678kB"},
		{32768, "32.77kB"},
		{999_999, "1000kB"}, // docker rounds within a unit, not across
		{3_397_879, "3.398MB"},
		{3_410_000, "3.41MB"},
		{1_200_000_000, "1.2GB"},
		{2_500_000_000_000, "2.5TB"},
		{math.MaxInt64, "9.223EB"},
		{-1, "-1B"},
	} {
		if got := HumanSize(tc.n); got != tc.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestShortID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "abcdef012345"},
		{"abcdef0123456789", "abcdef012345"},
		{"sha512:0123456789abcdef", "0123456789ab"},
		{"sha256:abc", "abc"},
		{"abcdef012345", "abcdef012345"},
		{"", ""},
	} {
		if got := ShortID(tc.in); got != tc.want {
			t.Errorf("ShortID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDockerProgress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		current, total int64
		want           string
	}{
		{"nothing known", 0, 0, ""},
		{"no total", 1234, 0, " 1.234kB"},
		{"start", 32768, 3397879, "[>" + strings.Repeat(" ", 50) + "]  32.77kB/3.398MB"},
		{"fifth", 1234, 5678, "[" + strings.Repeat("=", 10) + ">" + strings.Repeat(" ", 40) + "]  1.234kB/5.678kB"},
		{"done", 3397879, 3397879, "[" + strings.Repeat("=", 50) + ">]  3.398MB/3.398MB"},
		{"overshoot hides total", 6000, 5000, "[" + strings.Repeat("=", 50) + ">]      6kB"},
		{"zero of total", 0, 5000, "[>" + strings.Repeat(" ", 50) + "]       0B/5kB"},
	} {
		if got := dockerProgress(tc.current, tc.total); got != tc.want {
			t.Errorf("%s: dockerProgress(%d, %d) = %q, want %q", tc.name, tc.current, tc.total, got, tc.want)
		}
	}
}
