package config

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// FuzzParseHostsFile: a hosts.toml is untrusted input (any file under a
// hosts directory). The parser never panics, fails with one line wrapping
// errdefs.ErrInvalidArgument, and every host it returns has a URL that
// parses back to it and a host a reference can name.
func FuzzParseHostsFile(f *testing.F) {
	f.Add([]byte(everyKey))
	f.Add([]byte(`server = "http://[::1]:5000/x/"` + "\n[host.\"localhost:1\"]\noverride_path = true\n"))
	f.Add([]byte("[host.\"https://m.example.com/v2/p\"]\nclient = [\"a\", [\"b\", \"\"]]\n[host.\"https://m.example.com/v2/p\".header]\nx = [\"1\"]\n"))
	f.Add([]byte("ca = [\"\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hf, err := ParseHostsFile(data, "/etc/containerd/certs.d/docker.io")
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line wrapping ErrInvalidArgument", err)
			}
			return
		}
		for _, domain := range []string{"docker.io", "localhost:5000"} {
			for _, h := range hf.Endpoints(domain) {
				checkHost(t, h)
			}
		}
	})
}

func checkHost(t *testing.T, h Host) {
	t.Helper()
	u, err := url.Parse(h.URL())
	if err != nil || u.Host != h.Host || (u.Path != h.Root && !(h.Root == "" && u.Path == "")) {
		t.Fatalf("host %+v: URL %q reads back as %+v, %v", h, h.URL(), u, err)
	}
	if h.Scheme != "https" && h.Scheme != "http" {
		t.Fatalf("host %+v: scheme %q", h, h.Scheme)
	}
	if got, err := parseHost(h.Host); err != nil || got != h.Host {
		t.Fatalf("host %+v: host %q is not canonical: %q, %v", h, h.Host, got, err)
	}
	if !strings.HasPrefix(h.Root, "/") {
		t.Fatalf("host %+v: root %q", h, h.Root)
	}
	if _, err := reference.Parse(h.Host + "/library/alpine:latest"); err != nil {
		t.Fatalf("host %+v: no reference names it: %v", h, err)
	}
}
