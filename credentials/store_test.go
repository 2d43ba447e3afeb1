package credentials

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry/auth"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// writeConfig writes content to dir/config.json and returns its path.
func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readJSON decodes the file at p into a generic map.
func readJSON(t *testing.T, p string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("config is not JSON after save: %v", err)
	}
	return m
}

func mustGet(t *testing.T, s *Store, host string) auth.Credential {
	t.Helper()
	c, err := s.Get(context.Background(), host)
	if err != nil {
		t.Fatalf("Get(%s): %v", host, err)
	}
	return c
}

func TestLoadMissingFileIsEmpty(t *testing.T) {
	t.Parallel()
	for _, p := range []string{filepath.Join(t.TempDir(), "nope", "config.json"), ""} {
		s, err := Load(p)
		if err != nil {
			t.Fatalf("Load(%q): %v", p, err)
		}
		if c := mustGet(t, s, "registry-1.docker.io"); !c.Empty() {
			t.Errorf("Get on empty store = %+v", c)
		}
	}
	s, _ := Load("")
	if err := s.Save(context.Background(), "h", auth.Credential{Username: "u", Password: "p"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Save without a path = %v, want ErrInvalidArgument", err)
	}
}

func TestLoadRejectsMalformedConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not JSON":          `{"auths": {"h": {"auth": "c2VjcmV0LXZhbHVl"`,
		"array":             `["secret-value"]`,
		"auths not object":  `{"auths": ["secret-value"]}`,
		"credsStore number": `{"credsStore": 7}`,
		"credHelpers array": `{"credHelpers": ["x"]}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(writeConfig(t, t.TempDir(), content))
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Load = %v, want ErrInvalidArgument", err)
			}
			if strings.Contains(err.Error(), "secret-value") || strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("error %q quotes the file", err)
			}
		})
	}
	for _, empty := range []string{"", "  \n", "null", `{"auths": null}`} {
		if _, err := Load(writeConfig(t, t.TempDir(), empty)); err != nil {
			t.Errorf("Load(%q) = %v, want an empty store", empty, err)
		}
	}
}

func TestAuthEntryForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entry   string
		want    auth.Credential
		wantErr error
	}{
		{"auth field", `{"auth":"` + b64("alice:pw") + `"}`, auth.Credential{Username: "alice", Password: "pw"}, nil},
		{"password with colon", `{"auth":"` + b64("alice:p:w") + `"}`, auth.Credential{Username: "alice", Password: "p:w"}, nil},
		{"unpadded base64", `{"auth":"` + strings.TrimRight(b64("ab:c"), "=") + `"}`, auth.Credential{Username: "ab", Password: "c"}, nil},
		{"username and password fields", `{"username":"bob","password":"pw2"}`, auth.Credential{Username: "bob", Password: "pw2"}, nil},
		{"identity token", `{"auth":"` + b64("bob:") + `","identitytoken":"refresh"}`, auth.Credential{Username: "bob", IdentityToken: "refresh"}, nil},
		{"registry token", `{"registrytoken":"bearer-xyz"}`, auth.Credential{RegistryToken: "bearer-xyz"}, nil},
		{"empty entry", `{}`, auth.Credential{}, nil},
		{"email only", `{"email":"a@b.c"}`, auth.Credential{}, nil},
		{"bad base64", `{"auth":"!!!secret"}`, auth.Credential{}, errdefs.ErrInvalidArgument},
		{"no colon", `{"auth":"` + b64("secretnocolon") + `"}`, auth.Credential{}, errdefs.ErrInvalidArgument},
		{"entry not object", `"secret"`, auth.Credential{}, errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(writeConfig(t, t.TempDir(), `{"auths":{"reg.example.com":`+tt.entry+`}}`))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(context.Background(), "reg.example.com")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q leaks the entry", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Get = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDockerHubAndHostKeyNormalization(t *testing.T) {
	t.Parallel()
	hubKeys := []string{"https://index.docker.io/v1/", "docker.io", "index.docker.io", "https://registry-1.docker.io/v2/", "HTTPS://INDEX.DOCKER.IO/v1/"}
	hubHosts := []string{"registry-1.docker.io", "docker.io", "index.docker.io", "Registry-1.Docker.IO"}
	for _, key := range hubKeys {
		p := writeConfig(t, t.TempDir(), `{"auths":{"`+key+`":{"auth":"`+b64("hub:pw")+`"}}}`)
		s, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range hubHosts {
			if c := mustGet(t, s, host); c.Username != "hub" {
				t.Errorf("key %q, host %q: got %+v", key, host, c)
			}
		}
		if c := mustGet(t, s, "ghcr.io"); !c.Empty() {
			t.Errorf("key %q leaked to ghcr.io: %+v", key, c)
		}
	}

	// Other hosts: keys may carry a scheme and path; lookups ignore case.
	p := writeConfig(t, t.TempDir(), `{"auths":{
		"https://myreg.example.com/v1/":{"auth":"`+b64("a:1")+`"},
		"localhost:5000":{"auth":"`+b64("b:2")+`"},
		"http://localhost:5001":{"auth":"`+b64("c:3")+`"}}}`)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for host, user := range map[string]string{
		"myreg.example.com": "a", "MyReg.Example.com": "a", "localhost:5000": "b", "localhost:5001": "c", "localhost": "",
	} {
		if c := mustGet(t, s, host); c.Username != user {
			t.Errorf("Get(%s).Username = %q, want %q", host, c.Username, user)
		}
	}

	// The canonical key wins over other spellings of the same host.
	p = writeConfig(t, t.TempDir(), `{"auths":{"docker.io":{"auth":"`+b64("old:x")+`"},"https://index.docker.io/v1/":{"auth":"`+b64("new:y")+`"}}}`)
	s, _ = Load(p)
	if c := mustGet(t, s, "registry-1.docker.io"); c.Username != "new" {
		t.Errorf("canonical key not preferred: %+v", c)
	}
}

func TestSaveGetEraseRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	original := `{
	"auths": {
		"other.example.com": {"auth": "` + b64("o:p") + `", "email": "o@example.com"},
		"localhost:5000": {"email": "keep@example.com", "auth": "` + b64("old:old") + `"}
	},
	"psFormat": "table {{.ID}}",
	"HttpHeaders": {"X-Meta": "1"},
	"proxies": {"default": {"httpProxy": "http://proxy:3128"}},
	"currentContext": "ctx",
	"plugins": {"x": {"y": [1, 2, {"z": null}]}}
}`
	p := writeConfig(t, dir, original)
	var before map[string]any
	_ = json.Unmarshal([]byte(original), &before)

	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "localhost:5000", auth.Credential{Username: "alice", Password: "s3:cret"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "registry-1.docker.io", auth.Credential{Username: "hub", Password: "hubpw", IdentityToken: "idt"}); err != nil {
		t.Fatal(err)
	}

	after := readJSON(t, p)
	for k, v := range before {
		if k == "auths" {
			continue
		}
		if !reflect.DeepEqual(after[k], v) {
			t.Errorf("field %q changed: %v -> %v", k, v, after[k])
		}
	}
	auths := after["auths"].(map[string]any)
	if !reflect.DeepEqual(auths["other.example.com"], before["auths"].(map[string]any)["other.example.com"]) {
		t.Errorf("untouched entry changed: %v", auths["other.example.com"])
	}
	local := auths["localhost:5000"].(map[string]any)
	if local["auth"] != b64("alice:s3:cret") || local["email"] != "keep@example.com" {
		t.Errorf("saved entry %v, want new auth and the email kept", local)
	}
	hub, ok := auths["https://index.docker.io/v1/"].(map[string]any)
	if !ok || hub["auth"] != b64("hub:hubpw") || hub["identitytoken"] != "idt" {
		t.Errorf("Docker Hub entry %v, want it under the canonical key", auths)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, %v; want 0600", fi.Mode(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".config.json.tmp-*")); len(leftovers) != 0 {
		t.Errorf("temp files left: %v", leftovers)
	}

	// Both the live store and a fresh load see the new credentials.
	s2, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, s2} {
		if c := mustGet(t, st, "localhost:5000"); c != (auth.Credential{Username: "alice", Password: "s3:cret"}) {
			t.Errorf("Get(localhost:5000) = %+v", c)
		}
		if c := mustGet(t, st, "docker.io"); c.IdentityToken != "idt" {
			t.Errorf("Get(docker.io) = %+v", c)
		}
	}

	if err := s2.Erase(ctx, "localhost:5000"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Erase(ctx, "localhost:5000"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Erase = %v, want ErrNotFound", err)
	}
	if c := mustGet(t, s2, "localhost:5000"); !c.Empty() {
		t.Errorf("Get after Erase = %+v", c)
	}
	after = readJSON(t, p)
	if _, ok := after["auths"].(map[string]any)["localhost:5000"]; ok {
		t.Error("erased entry still in the file")
	}
	if after["psFormat"] != "table {{.ID}}" || after["currentContext"] != "ctx" {
		t.Errorf("unknown fields lost on erase: %v", after)
	}
}

func TestSaveCreatesDirectoryAndRejectsEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", ".docker")
	p := filepath.Join(dir, "config.json")
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "h.example.com", auth.Credential{}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Save(empty) = %v, want ErrInvalidArgument", err)
	}
	if err := s.Save(ctx, "h.example.com", auth.Credential{Username: "a:b", Password: "c"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Save(user with colon) = %v, want ErrInvalidArgument", err)
	}
	if err := s.Save(ctx, "h.example.com", auth.Credential{RegistryToken: "rt"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("config dir mode %v, %v; want 0700", fi.Mode(), err)
	}
	if c := mustGet(t, s, "h.example.com"); c.RegistryToken != "rt" {
		t.Errorf("Get = %+v", c)
	}
}

func TestSaveKeepsSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real := writeConfig(t, dir, `{"psFormat":"x"}`)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	s, err := Load(link)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(context.Background(), "h.example.com", auth.Credential{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced by a file: %v %v", fi.Mode(), err)
	}
	if m := readJSON(t, real); m["psFormat"] != "x" || m["auths"] == nil {
		t.Errorf("target not updated: %v", m)
	}
}

func TestSaveSeesConcurrentEdits(t *testing.T) {
	t.Parallel()
	p := writeConfig(t, t.TempDir(), `{}`)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	// Another tool edits the file after Load.
	writeConfig(t, filepath.Dir(p), `{"credsStoreIgnored":"no","auths":{"x.example.com":{"auth":"`+b64("x:y")+`"}}}`)
	if err := s.Save(context.Background(), "h.example.com", auth.Credential{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	m := readJSON(t, p)
	if m["credsStoreIgnored"] != "no" || m["auths"].(map[string]any)["x.example.com"] == nil {
		t.Errorf("concurrent edit lost: %v", m)
	}
}

func TestCredentialFunc(t *testing.T) {
	t.Parallel()
	s, err := Load(writeConfig(t, t.TempDir(), `{"auths":{"h.example.com":{"auth":"`+b64("u:p")+`"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CredentialFunc()(context.Background(), "h.example.com")
	if err != nil || c.Username != "u" || c.Password != "p" {
		t.Fatalf("CredentialFunc = %+v, %v", c, err)
	}
}

func TestDefaultPath(t *testing.T) {
	// Not parallel: it sets environment variables.
	t.Setenv("DOCKER_CONFIG", "/custom/dir")
	if got := DefaultPath(); got != filepath.Join("/custom/dir", "config.json") {
		t.Errorf("DefaultPath with DOCKER_CONFIG = %q", got)
	}
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("HOME", "/home/someone")
	if got := DefaultPath(); got != filepath.Join("/home/someone", ".docker", "config.json") {
		t.Errorf("DefaultPath from HOME = %q", got)
	}
}
