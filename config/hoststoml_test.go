package config

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

const everyKey = `
server = "https://registry.example.com:8443"
capabilities = ["pull", "resolve", "push"]
ca = "registry-ca.pem"
skip_verify = false
dial_timeout = "3s"

[header]
  x-registry = "top"

# The order mirrors are tried in is the file's, whatever their names.
[host."http://zz-spegel:30020"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example.com/cache"]
  capabilities = ["pull"]
  ca = ["mirror-ca.pem", "/abs/other.pem"]
  client = [["client.cert", "client.key"], ["both.pem", ""]]
  skip_verify = true
  [host."https://mirror.example.com/cache".header]
    X-Dragonfly-Registry = ["https://index.docker.io"]
    x-multi = ["a", "b"]

[host."harbor.example.com/v2/dockerhub-proxy"]
  override_path = true
  client = "one.pem"

[host."https://api.example.com/api"]
  override_path = true
  capabilities = ["resolve"]

[host."https://aa-v2.example.com/v2"]
`

func TestParseHostsFileEveryKey(t *testing.T) {
	t.Parallel()
	dir := "/etc/containerd/certs.d/docker.io"
	f, err := ParseHostsFile([]byte(everyKey), dir)
	if err != nil {
		t.Fatal(err)
	}
	all := func(h Host) Host { h.Pull, h.Resolve, h.Push = true, true, true; return h }
	want := []Host{
		{Scheme: "http", Host: "zz-spegel:30020", Root: "/v2", Pull: true, Resolve: true},
		{
			Scheme: "https", Host: "mirror.example.com", Root: "/cache/v2", Pull: true,
			CAFiles:     []string{dir + "/mirror-ca.pem", "/abs/other.pem"},
			ClientCerts: []ClientCert{{dir + "/client.cert", dir + "/client.key"}, {dir + "/both.pem", ""}},
			SkipVerify:  true,
			Header:      http.Header{"X-Dragonfly-Registry": {"https://index.docker.io"}, "X-Multi": {"a", "b"}},
		},
		all(Host{Scheme: "https", Host: "harbor.example.com", Root: "/v2/dockerhub-proxy", ClientCerts: []ClientCert{{dir + "/one.pem", ""}}}),
		{Scheme: "https", Host: "api.example.com", Root: "/api", Resolve: true},
		all(Host{Scheme: "https", Host: "aa-v2.example.com", Root: "/v2"}),
	}
	if !reflect.DeepEqual(f.Hosts, want) {
		t.Errorf("hosts:\n%+v\nwant\n%+v", f.Hosts, want)
	}
	server := all(Host{Scheme: "https", Host: "registry.example.com:8443", Root: "/v2", CAFiles: []string{dir + "/registry-ca.pem"}, Header: http.Header{"X-Registry": {"top"}}})
	if !reflect.DeepEqual(f.Server, server) {
		t.Errorf("server %+v, want %+v", f.Server, server)
	}
	eps := f.Endpoints("docker.io")
	if len(eps) != 6 || eps[5].Host != "registry.example.com:8443" {
		t.Errorf("endpoints %+v", eps)
	}
}

func TestHostsFileWithoutServer(t *testing.T) {
	t.Parallel()
	f, err := ParseHostsFile([]byte(`[host."https://m.example.com"]`+"\n"), "/d")
	if err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]string{"docker.io": "registry-1.docker.io", "ghcr.io": "ghcr.io", "localhost:5000": "localhost:5000"} {
		eps := f.Endpoints(domain)
		if len(eps) != 2 || eps[0].Host != "m.example.com" || eps[1].Host != want || eps[1].Root != "/v2" || !eps[1].Resolve {
			t.Errorf("%s: %+v", domain, eps)
		}
	}
	empty, err := ParseHostsFile(nil, "/d")
	if err != nil || len(empty.Endpoints("ghcr.io")) != 1 {
		t.Fatalf("empty file: %+v, %v", empty, err)
	}
}

func TestParseHostsFileErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ file, want string }{
		{`server = `, "line 1"},
		{`sever = "https://x.example.com"`, `unknown key "sever"`},
		{"[host.\"https://m.example.com\"]\ncapabilitys = [\"pull\"]", `unknown key "host.https://m.example.com.capabilitys" at line 2`},
		{`capabilities = ["pull", "fetch"]`, `capability "fetch"`},
		{`capabilities = "pull"`, "line 1"},
		{`ca = 5`, "ca: want a path"},
		{`ca = ["a", 5]`, "ca: want a path"},
		{`client = [["a"]]`, "client: want"},
		{`client = [["", "k"]]`, "empty certificate path"},
		{`client = 5`, "client: want"},
		{`skip_verify = "yes"`, "line 1"},
		{`proxy = "http://p:8080"`, "proxy is not supported"},
		{`dial_timeout = "soon"`, "dial_timeout"},
		{`server = "ftp://x.example.com"`, "scheme is not https or http"},
		{`server = "https://u:p@x.example.com"`, "user info"},
		{`server = "https://x.example.com/?q=1"`, "queries"},
		{`server = "https://x.example.com/a%2Fb"`, "escaping"},
		{`server = "https://mirror"`, "needs a dot or a port"},
		{`server = "https://"`, "empty host"},
		{"[header]\nAuthorization = \"Bearer secret-token\"", "Authorization is not allowed"},
		{"[header]\n\"bad name\" = \"v\"", "not a valid header name"},
		{"[header]\nx = \"a\\nInjected: 1\"", "control character"},
		{"[header]\nx = 5", "want a string"},
		{"[header]\nx = []", "no value"},
		{"[header]\nx = \"a\"\nX = \"b\"", "set twice"},
		{"[host.\"https://m.example.com\"]\n[host.\"https://M.example.com/\"]", "the same host"},
		{`host = { "https://m.example.com" = {} }`, "its own"},
		{"[[host]]\nx = 1", "line"},
	} {
		_, err := ParseHostsFile([]byte(tt.file), "/d")
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err = %v, want one line with %q", tt.file, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-token") {
			t.Errorf("%q: the error prints a header value: %v", tt.file, err)
		}
	}
}

func writeHosts(t *testing.T, dir, ns, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, ns), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ns, "hosts.toml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostsDirLookupAndPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeHosts(t, dir, "docker.io", "[host.\"http://127.0.0.1:30020\"]\n  ca = \"ca.pem\"\n")
	writeHosts(t, dir, "reg.example.com_5000_", "server = \"https://real.example.com\"\n")
	writeHosts(t, dir, "reg.example.com:5000", "server = \"https://ignored.example.com\"\n") // the _port_ form is looked up first
	writeHosts(t, dir, "_default", "[host.\"https://default-mirror.example.com\"]\n")
	writeHosts(t, dir, "broken.example.com", "server = [")
	writeHosts(t, dir, "not a host", "server = [")
	if err := os.MkdirAll(filepath.Join(dir, "certs-only.example.com"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := LoadHostsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parse([]byte(`{"registries": {"ghcr.io": {"mirrors": ["http://json-mirror.example.com/p"]}, "docker.io": {"mirrors": ["json-hub.example.com"]}, "quay.io": {"caFile": "/ca.pem"}}}`), "/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.UseHostsDir(d)
	hosts := func(domain string) string {
		hs, err := cfg.Hosts(domain)
		if err != nil {
			return "error: " + err.Error()
		}
		var s []string
		for _, h := range hs {
			s = append(s, h.URL()+"|"+h.Prefix)
		}
		return strings.Join(s, " ")
	}
	for domain, want := range map[string]string{
		// Its own hosts.toml rules over the JSON mirrors.
		"docker.io":            "http://127.0.0.1:30020/v2| https://registry-1.docker.io/v2|",
		"index.docker.io":      "http://127.0.0.1:30020/v2| https://registry-1.docker.io/v2|",
		"reg.example.com:5000": "https://real.example.com/v2|",
		// JSON mirrors rule over _default.
		"ghcr.io": "http://json-mirror.example.com/v2|p https://ghcr.io/v2|",
		// A JSON entry without mirrors leaves _default in force.
		"quay.io":                "https://default-mirror.example.com/v2| https://quay.io/v2|",
		"localhost:5000":         "https://default-mirror.example.com/v2| https://localhost:5000/v2|",
		"certs-only.example.com": "https://default-mirror.example.com/v2| https://certs-only.example.com/v2|",
	} {
		if got := hosts(domain); got != want {
			t.Errorf("%s: %s, want %s", domain, got, want)
		}
	}
	got := hosts("broken.example.com")
	if !strings.Contains(got, filepath.Join(dir, "broken.example.com", "hosts.toml")) || !strings.Contains(got, "line 1") {
		t.Errorf("broken file: %s", got)
	}
	if hs, err := cfg.Hosts("docker.io"); err != nil || hs[0].CAFiles[0] != filepath.Join(dir, "docker.io", "ca.pem") {
		t.Errorf("relative ca: %+v, %v", hs, err)
	}
	if n := len(d.Hosts()); n != 4 { // docker.io's two, reg's server, _default's mirror
		t.Errorf("Hosts() = %d hosts: %+v", n, d.Hosts())
	}

	// No hosts directory: the JSON file alone, as before.
	plain, _ := parse([]byte(`{}`), "/")
	if hs, err := plain.Hosts("docker.io"); err != nil || len(hs) != 1 || hs[0].Host != "registry-1.docker.io" {
		t.Errorf("no hosts dir: %+v, %v", hs, err)
	}
	if _, err := LoadHostsDir(filepath.Join(dir, "missing")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("missing dir: %v", err)
	}
}

func TestDefaultHostsFileTLSNeedsAServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeHosts(t, dir, "_default", "skip_verify = true\n")
	d, err := LoadHostsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lookup("ghcr.io"); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "without a server") {
		t.Fatalf("err = %v", err)
	}
}

func TestHostsDirKey(t *testing.T) {
	t.Parallel()
	c, err := parse([]byte(`{"hostsDir": "certs.d"}`), "/etc/imagec")
	if err != nil || c.HostsDir != "/etc/imagec/certs.d" {
		t.Fatalf("%+v, %v", c, err)
	}
	if _, err := parse([]byte(`{"hostsDir": 1}`), "/"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("err = %v", err)
	}
}
