package reference

import (
	"errors"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

const d64 = "sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d"

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, str, familiar, domain, host, path, id string
	}{
		{"alpine", "docker.io/library/alpine:latest", "alpine:latest", "docker.io", "registry-1.docker.io", "library/alpine", "latest"},
		{"alpine:3.20", "docker.io/library/alpine:3.20", "alpine:3.20", "docker.io", "registry-1.docker.io", "library/alpine", "3.20"},
		{"user/app", "docker.io/user/app:latest", "user/app:latest", "docker.io", "registry-1.docker.io", "user/app", "latest"},
		{"docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine:latest", "docker.io", "registry-1.docker.io", "library/alpine", "latest"},
		{"localhost:5000/team/app:1.2", "localhost:5000/team/app:1.2", "localhost:5000/team/app:1.2", "localhost:5000", "localhost:5000", "team/app", "1.2"},
		{"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest", "127.0.0.1:5000", "127.0.0.1:5000", "x", "latest"},
		{"ghcr.io/o/r@" + d64, "ghcr.io/o/r@" + d64, "ghcr.io/o/r@" + d64, "ghcr.io", "ghcr.io", "o/r", d64},
		// Tag and digest: the digest wins, as docker pulls it.
		{"alpine:3.20@" + d64, "docker.io/library/alpine@" + d64, "alpine@" + d64, "docker.io", "registry-1.docker.io", "library/alpine", d64},
		{"[::1]:5000/a/b:c", "[::1]:5000/a/b:c", "[::1]:5000/a/b:c", "[::1]:5000", "[::1]:5000", "a/b", "c"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{r.String(), r.Familiar(), r.Domain(), r.Host(), r.Path(), r.Identifier()}
			want := []string{tc.str, tc.familiar, tc.domain, tc.host, tc.path, tc.id}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", " alpine", "alpine ", "upper/Case", "a:b:c", "repo@sha256:123", "-lead", "a//b", "alpine:" + strings.Repeat("t", 200), "x@md5:abc"} {
		if _, err := Parse(in); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "invalid reference") {
			t.Errorf("Parse(%q) = %v, want invalid reference", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"alpine", "localhost:5000/a/b:c", "a@" + d64, "a:b@" + d64, "UPPER/x", "[::1]/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error %v is not invalid argument", err)
			}
			return
		}
		// The normalized form parses back to itself.
		again, err := Parse(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q -> %q -> %q, %v", s, r.String(), again.String(), err)
		}
		if r.Identifier() == "" || r.Path() == "" {
			t.Fatalf("%q: empty identifier or path", s)
		}
	})
}
