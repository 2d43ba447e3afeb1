package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `{"registries": {
	   "docker.io": {"mirrors": ["mirror.example.com", "http://10.0.0.5:5000/dockerhub"], "insecureAllowHTTP": false, "caFile": "/etc/ssl/my-ca.pem", "insecureSkipVerify": false},
	   "localhost:5000": {"mirrors": ["127.0.0.1:5001"]},
	   "Registry.Example.com:8443": {"caFile": "certs/ca.pem", "insecureSkipVerify": true, "insecureAllowHTTP": true},
	   "ghcr.io": {}
	}}`)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := map[string]Registry{
		"docker.io": {
			Mirrors: []Mirror{{Host: "mirror.example.com"}, {Host: "10.0.0.5:5000", Prefix: "dockerhub", PlainHTTP: true}},
			CAFile:  "/etc/ssl/my-ca.pem",
		},
		"localhost:5000": {Mirrors: []Mirror{{Host: "127.0.0.1:5001"}}},
		"registry.example.com:8443": {
			CAFile:             filepath.Join(filepath.Dir(path), "certs", "ca.pem"),
			InsecureSkipVerify: true,
			InsecureAllowHTTP:  true,
		},
		"ghcr.io": {},
	}
	if !reflect.DeepEqual(c.Registries, want) {
		t.Errorf("Registries = %+v\nwant %+v", c.Registries, want)
	}
}

func TestLoadEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, path string
	}{
		{"no path", ""},
		{"missing file", filepath.Join(dir, "nope", "config.json")},
		{"empty file", writeConfig(t, "")},
		{"blank file", writeConfig(t, " \n\t")},
		{"empty object", writeConfig(t, "{}")},
		{"null registries", writeConfig(t, `{"registries": null}`)},
	}
	for _, tt := range tests {
		c, err := Load(tt.path)
		if err != nil {
			t.Errorf("%s: Load: %v", tt.name, err)
			continue
		}
		if len(c.Registries) != 0 || c.For("docker.io").Mirrors != nil {
			t.Errorf("%s: config %+v, want empty", tt.name, c)
		}
		if eps := c.Endpoints("docker.io"); !reflect.DeepEqual(eps, []Mirror{{Host: "registry-1.docker.io"}}) {
			t.Errorf("%s: Endpoints = %+v", tt.name, eps)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		want          []string // substrings of the error besides the file name
	}{
		{"unknown top-level field", `{"registry": {}}`, []string{`unknown field "registry"`}},
		{"field case differs", `{"Registries": {}}`, []string{`unknown field "Registries"`}},
		{"unknown registry field", `{"registries": {"docker.io": {"mirror": []}}}`, []string{`registries["docker.io"]`, `unknown field "mirror"`}},
		{"misspelt case", `{"registries": {"docker.io": {"insecureAllowHttp": true}}}`, []string{`unknown field "insecureAllowHttp"`}},
		{"bad mirror scheme", `{"registries": {"docker.io": {"mirrors": ["ok.example.com", "ftp://m"]}}}`, []string{`registries["docker.io"].mirrors[1]`, `"ftp://m"`, "scheme"}},
		{"mirror user info", `{"registries": {"ghcr.io": {"mirrors": ["https://u:p@m.example.com"]}}}`, []string{`registries["ghcr.io"].mirrors[0]`, "user info"}},
		{"mirror query", `{"registries": {"ghcr.io": {"mirrors": ["m.example.com/?a=b"]}}}`, []string{"query"}},
		{"empty mirror", `{"registries": {"ghcr.io": {"mirrors": [""]}}}`, []string{`mirrors[0]`, "empty host"}},
		{"duplicate mirror", `{"registries": {"ghcr.io": {"mirrors": ["m.example.com", "https://M.example.com"]}}}`, []string{`mirrors[1]`, "twice"}},
		{"mirrors not array", `{"registries": {"ghcr.io": {"mirrors": "m.example.com"}}}`, []string{`registries["ghcr.io"].mirrors`, "array of strings"}},
		{"bool as string", `{"registries": {"ghcr.io": {"insecureSkipVerify": "true"}}}`, []string{`.insecureSkipVerify`, "true or false"}},
		{"caFile number", `{"registries": {"ghcr.io": {"caFile": 1}}}`, []string{`.caFile`, "path"}},
		{"empty domain", `{"registries": {"": {}}}`, []string{`registries[""]`, "empty host"}},
		{"domain with scheme", `{"registries": {"https://ghcr.io": {}}}`, []string{`registries["https://ghcr.io"]`, "domain"}},
		{"bare domain", `{"registries": {"myhost": {}}}`, []string{`registries["myhost"]`, "needs a dot or a port"}},
		{"domain with path", `{"registries": {"ghcr.io/org": {}}}`, []string{`registries["ghcr.io/org"]`}},
		{"docker hub twice", `{"registries": {"docker.io": {}, "index.docker.io": {}}}`, []string{"docker.io is configured twice"}},
		{"duplicate key", `{"registries": {"ghcr.io": {}, "ghcr.io": {}}}`, []string{`duplicate key "ghcr.io"`}},
		{"duplicate field", `{"registries": {"ghcr.io": {"caFile": "/a", "caFile": "/b"}}}`, []string{`duplicate key "caFile"`}},
		{"not an object", `[]`, []string{"JSON object"}},
		{"registries not object", `{"registries": []}`, []string{"registries", "JSON object"}},
		{"syntax error", "{\n  \"registries\": {,}\n}", []string{"invalid JSON at line 2"}},
		{"truncated", `{"registries": {`, []string{"invalid JSON"}},
		{"trailing data", `{} {}`, []string{"after the JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tt.content)
			_, err := Load(path)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Load err = %v, want ErrInvalidArgument", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range append([]string{path}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestLoadTooLarge(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `{"registries": {}}`+strings.Repeat(" ", maxFileSize))
	if _, err := Load(path); !errors.Is(err, errdefs.ErrTooLarge) {
		t.Fatalf("Load err = %v, want ErrTooLarge", err)
	}
}

func TestLoadUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() // a directory is not a readable config file
	if _, err := Load(dir); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Load(dir) err = %v, want ErrInvalidArgument naming %s", err, dir)
	}
}

func TestForAndEndpoints(t *testing.T) {
	t.Parallel()
	c, err := parse([]byte(`{"registries": {
		"index.docker.io": {"mirrors": ["a.example.com", "http://b.example.com:5000/hub"], "caFile": "/ca.pem"},
		"localhost:5000": {"mirrors": ["127.0.0.1:5001"], "insecureAllowHTTP": true}
	}}`), "/")
	if err != nil {
		t.Fatal(err)
	}
	hub := []Mirror{{Host: "a.example.com"}, {Host: "b.example.com:5000", Prefix: "hub", PlainHTTP: true}, {Host: "registry-1.docker.io"}}
	tests := []struct {
		domain    string
		endpoints []Mirror
		caFile    string
		allowHTTP bool
	}{
		{"docker.io", hub, "/ca.pem", false},
		{"index.docker.io", hub, "/ca.pem", false},
		{"registry-1.docker.io", hub, "/ca.pem", false},
		{"Docker.IO", []Mirror{hub[0], hub[1], {Host: "Docker.IO"}}, "/ca.pem", false},
		{"localhost:5000", []Mirror{{Host: "127.0.0.1:5001"}, {Host: "localhost:5000"}}, "", true},
		{"ghcr.io", []Mirror{{Host: "ghcr.io"}}, "", false},
		{"localhost:5001", []Mirror{{Host: "localhost:5001"}}, "", false},
	}
	for _, tt := range tests {
		reg := c.For(tt.domain)
		if reg.CAFile != tt.caFile || reg.InsecureAllowHTTP != tt.allowHTTP {
			t.Errorf("For(%q) = %+v", tt.domain, reg)
		}
		if got := c.Endpoints(tt.domain); !reflect.DeepEqual(got, tt.endpoints) {
			t.Errorf("Endpoints(%q) = %+v, want %+v", tt.domain, got, tt.endpoints)
		}
	}
	// The result is a copy: changing it must not change the config.
	eps := c.Endpoints("docker.io")
	eps[0].Host = "changed"
	if c.Endpoints("docker.io")[0].Host != "a.example.com" {
		t.Error("Endpoints returned the config's own slice")
	}
	var none *Config
	if got := none.Endpoints("ghcr.io"); !reflect.DeepEqual(got, []Mirror{{Host: "ghcr.io"}}) {
		t.Errorf("nil config Endpoints = %+v", got)
	}
}

func TestDefaultPath(t *testing.T) {
	// t.Setenv forbids t.Parallel.
	tests := []struct {
		name, imagec, xdg, home, want string
	}{
		{"IMAGEC_CONFIG wins", "/etc/imagec.json", "/xdg", "/home/u", "/etc/imagec.json"},
		{"XDG_CONFIG_HOME", "", "/xdg", "/home/u", "/xdg/imagec/config.json"},
		{"relative XDG ignored", "", "xdg", "/home/u", "/home/u/.config/imagec/config.json"},
		{"home", "", "", "/home/u", "/home/u/.config/imagec/config.json"},
		{"nothing", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMAGEC_CONFIG", tt.imagec)
			t.Setenv("XDG_CONFIG_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			if got := DefaultPath(); got != tt.want {
				t.Errorf("DefaultPath() = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParse checks that the parser never panics, that failures are one-line
// ErrInvalidArgument errors, and that what it accepts is normalized.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"registries": {"docker.io": {"mirrors": ["m.example.com", "http://10.0.0.5:5000/hub"], "caFile": "ca.pem"}}}`,
		`{"registries": {"localhost:5000": {"insecureAllowHTTP": true, "insecureSkipVerify": false}}}`,
		`{"registries": null}`, `{}`, ``, `{"a":1}`, `{"registries": {"x": {"mirrors": [1]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "/cfg")
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("parse err = %q", err)
			}
			return
		}
		for domain, reg := range c.Registries {
			if normalizeDomain(domain) != domain {
				t.Fatalf("key %q is not normalized", domain)
			}
			if reg.CAFile != "" && !filepath.IsAbs(reg.CAFile) {
				t.Fatalf("CAFile %q is not absolute", reg.CAFile)
			}
			if eps := c.Endpoints(domain); len(eps) != len(reg.Mirrors)+1 {
				t.Fatalf("Endpoints(%q) = %+v", domain, eps)
			}
		}
	})
}
