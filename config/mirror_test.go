package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

func TestParseMirror(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Mirror
	}{
		{"mirror.example.com", Mirror{Host: "mirror.example.com"}},
		{"https://mirror.example.com", Mirror{Host: "mirror.example.com"}},
		{"HTTPS://Mirror.Example.COM", Mirror{Host: "mirror.example.com"}},
		{"http://10.0.0.5:5000/dockerhub", Mirror{Host: "10.0.0.5:5000", Prefix: "dockerhub", PlainHTTP: true}},
		{"mirror.example.com:443/", Mirror{Host: "mirror.example.com:443"}},
		{"harbor.example.com/proxy/docker-hub/", Mirror{Host: "harbor.example.com", Prefix: "proxy/docker-hub"}},
		{"127.0.0.1:5001", Mirror{Host: "127.0.0.1:5001"}},
		{"localhost", Mirror{Host: "localhost"}},
		{"mirror:5000", Mirror{Host: "mirror:5000"}},
		{"[::1]:5000", Mirror{Host: "[::1]:5000"}},
		{"http://[0:0::1]", Mirror{Host: "[::1]", PlainHTTP: true}},
		{"m.example.com/a.b/c__d/e--f", Mirror{Host: "m.example.com", Prefix: "a.b/c__d/e--f"}},
	}
	for _, tt := range tests {
		got, err := ParseMirror(tt.in)
		if err != nil {
			t.Errorf("ParseMirror(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseMirror(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if back, err := ParseMirror(got.String()); err != nil || back != got {
			t.Errorf("ParseMirror(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestParseMirrorRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, why string
	}{
		{"", "empty host"},
		{"https://", "empty host"},
		{"http:///prefix", "empty host"},
		{"ftp://mirror.example.com", `scheme "ftp"`},
		{"unix:///var/run/registry.sock", `scheme "unix"`},
		{"https://user:pass@mirror.example.com", "user info"},
		{"mirror.example.com?x=1", "query"},
		{"mirror.example.com/?", "query"},
		{"mirror.example.com#frag", "fragment"},
		{"mirror.example.com/%2e%2e", "percent"},
		{"mirror.example.com:0", "port"},
		{"mirror.example.com:65536", "port"},
		{"mirror.example.com:05000", "port"},
		{"mirror.example.com:", "port"},
		{"mirror.example.com:http", "port"},
		{"::1", "brackets"},
		{"[::1", "unclosed"},
		{"[example.com]:5000", "not an IPv6"},
		{"[::1]x", "unexpected"},
		{"[::ffff:1.2.3.4]:5000", "IPv4-mapped"},
		{"[fe80::1%25eth0]", "percent"},
		{"-bad.example.com", "starts or ends"},
		{"bad..example.com", "empty or over-long"},
		{"bad_host.example.com", "contains"},
		{"mirror example.com", "contains"},
		{"mirror.example.com/Upper", "path prefix"},
		{"mirror.example.com/a//b", "path prefix"},
		{"mirror.example.com/../b", "path prefix"},
		{"mirror.example.com/-a", "path prefix"},
		{"//mirror.example.com", "empty host"},
		{"mirror", "needs a dot or a port"},
		{"http://Mirror/prefix", "needs a dot or a port"},
	}
	for _, tt := range tests {
		_, err := ParseMirror(tt.in)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ParseMirror(%q) err = %v, want ErrInvalidArgument", tt.in, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.why) || strings.Contains(msg, "\n") {
			t.Errorf("ParseMirror(%q) err = %q, want one line mentioning %q", tt.in, msg, tt.why)
		}
	}
}

func TestMirrorRepository(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    Mirror
		want string
	}{
		{Mirror{Host: "m"}, "library/alpine"},
		{Mirror{Host: "m", Prefix: "dockerhub"}, "dockerhub/library/alpine"},
		{Mirror{Host: "m", Prefix: "a/b"}, "a/b/library/alpine"},
	}
	for _, tt := range tests {
		if got := tt.m.Repository("library/alpine"); got != tt.want {
			t.Errorf("%+v.Repository = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// FuzzParseMirror checks that whatever is accepted is canonical and safe to
// put in a URL: String reads back to the same mirror, and no part carries
// characters that would change the URL's structure.
func FuzzParseMirror(f *testing.F) {
	for _, s := range []string{
		"mirror.example.com", "http://10.0.0.5:5000/dockerhub", "https://[::1]:443/a/b",
		"user@host", "host?q", "ftp://x", "HTTP://X:1/", "[::ffff:1.2.3.4]", "h:65535/a_b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMirror(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ParseMirror(%q) err = %v, not ErrInvalidArgument", s, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("ParseMirror(%q) error spans lines: %q", s, err)
			}
			return
		}
		if m.Host == "" || strings.ContainsAny(m.Host, "/@?#% \t\r\n") || m.Host != strings.ToLower(m.Host) {
			t.Fatalf("ParseMirror(%q) host %q", s, m.Host)
		}
		if strings.HasPrefix(m.Prefix, "/") || strings.HasSuffix(m.Prefix, "/") || strings.Contains(m.Prefix, "//") ||
			strings.ContainsAny(m.Prefix, "@?#%: \t\r\n") || strings.Contains("/"+m.Prefix+"/", "/../") {
			t.Fatalf("ParseMirror(%q) prefix %q", s, m.Prefix)
		}
		// The engine addresses a mirror through a reference: it must name
		// the mirror's host and the prefixed path, never Docker Hub.
		ref, err := reference.Parse(m.Host + "/" + m.Repository("library/alpine"))
		if err != nil && len(m.Host+"/"+m.Repository("library/alpine")) > 255 {
			t.Fatalf("ParseMirror(%q) accepted a mirror too long to address", s)
		}
		if err != nil || ref.Domain() != m.Host || ref.Path() != m.Repository("library/alpine") {
			t.Fatalf("ParseMirror(%q) = %+v: reference %v, %v", s, m, ref, err)
		}
		back, err := ParseMirror(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMirror(%q) = %+v; its String %q reads back as %+v, %v", s, m, m.String(), back, err)
		}
	})
}

func TestReferences(t *testing.T) {
	t.Parallel()
	c, err := parse([]byte(`{"registries":{"docker.io":{"mirrors":["mirror.example:5000","http://10.0.0.5/hub","registry-1.docker.io"]}}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string][]string{
		"alpine:3.20": {"mirror.example:5000/library/alpine:3.20", "10.0.0.5/hub/library/alpine:3.20", "docker.io/library/alpine:3.20"},
		"alpine@sha256:" + strings.Repeat("a", 64): {
			"mirror.example:5000/library/alpine@sha256:" + strings.Repeat("a", 64),
			"10.0.0.5/hub/library/alpine@sha256:" + strings.Repeat("a", 64),
			"docker.io/library/alpine@sha256:" + strings.Repeat("a", 64),
		},
		"ghcr.io/x/y:1": {"ghcr.io/x/y:1"},
	} {
		refs, err := c.References(reference.MustParse(in))
		var got []string
		for _, r := range refs {
			got = append(got, r.String())
		}
		if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("References(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
}
