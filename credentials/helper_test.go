package credentials

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry/auth"
)

// fakeHelper keeps one file per server URL next to itself and logs each
// action with its stdin, like a keychain helper would store them.
const fakeHelper = `#!/bin/sh
here=$(dirname "$0")
mkdir -p "$here/store"
input=$(cat)
printf '%s %s\n' "$1" "$input" >> "$here/calls"
case "$1" in
get|erase) url=$input ;;
store) url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p') ;;
*) echo "unknown action $1"; exit 1 ;;
esac
f="$here/store/$(printf '%s' "$url" | tr -c 'A-Za-z0-9' '_')"
case "$1" in
get) if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) printf '%s' "$input" > "$f" ;;
erase) if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`

// brokenHelper fails every action, echoing its input the way a careless
// helper might, secrets included.
const brokenHelper = `#!/bin/sh
printf 'error: could not talk to keychain: '
cat
printf '\nsecond line\n'
exit 3
`

// installHelpers writes the fake helpers to a temp dir put first on PATH.
// Tests using it cannot run in parallel (t.Setenv).
func installHelpers(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, script := range map[string]string{"test": fakeHelper, "broken": brokenHelper} {
		if err := os.WriteFile(filepath.Join(dir, helperPrefix+name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func helperCalls(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "calls"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestCredsStoreHelperRoundTrip(t *testing.T) {
	helperDir := installHelpers(t)
	ctx := context.Background()
	p := writeConfig(t, t.TempDir(), `{"credsStore":"test","auths":{"localhost:5000":{"auth":"`+b64("plain:text")+`"}},"extra":true}`)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing in the helper yet: the lookup falls through to auths.
	if c := mustGet(t, s, "localhost:5000"); c.Username != "plain" {
		t.Fatalf("fallthrough Get = %+v", c)
	}

	if err := s.Save(ctx, "localhost:5000", auth.Credential{Username: "alice", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "docker.io", auth.Credential{IdentityToken: "refresh-tok"}); err != nil {
		t.Fatal(err)
	}
	m := readJSON(t, p)
	auths := m["auths"].(map[string]any)
	if e, ok := auths["localhost:5000"].(map[string]any); !ok || len(e) != 0 {
		t.Errorf("file entry %v, want {} (secret kept by the helper, plaintext dropped)", auths["localhost:5000"])
	}
	if _, ok := auths[dockerHubKey]; !ok {
		t.Errorf("no Docker Hub entry under %s: %v", dockerHubKey, auths)
	}
	if m["extra"] != true || m["credsStore"] != "test" {
		t.Errorf("other fields lost: %v", m)
	}

	s2, _ := Load(p)
	if c := mustGet(t, s2, "localhost:5000"); c != (auth.Credential{Username: "alice", Password: "pw"}) {
		t.Errorf("Get via helper = %+v", c)
	}
	if c := mustGet(t, s2, "registry-1.docker.io"); c != (auth.Credential{IdentityToken: "refresh-tok"}) {
		t.Errorf("Get of <token> credential = %+v", c)
	}
	// Answers are cached: asking again does not run the helper again.
	before := len(helperCalls(t, helperDir))
	mustGet(t, s2, "localhost:5000")
	if after := len(helperCalls(t, helperDir)); after != before {
		t.Errorf("helper ran %d more times for a cached answer", after-before)
	}
	calls := strings.Join(helperCalls(t, helperDir), "\n")
	if !strings.Contains(calls, "get "+dockerHubKey) || !strings.Contains(calls, "get localhost:5000") {
		t.Errorf("helper was not asked with docker's server URLs:\n%s", calls)
	}

	if err := s2.Save(ctx, "localhost:5000", auth.Credential{RegistryToken: "rt"}); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("Save(registry token) through helper = %v, want ErrUnsupported", err)
	}

	if err := s2.Erase(ctx, "localhost:5000"); err != nil {
		t.Fatal(err)
	}
	if c := mustGet(t, s2, "localhost:5000"); !c.Empty() {
		t.Errorf("Get after Erase = %+v", c)
	}
	if err := s2.Erase(ctx, "localhost:5000"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Erase = %v, want ErrNotFound", err)
	}
}

func TestCredHelpersTakePrecedence(t *testing.T) {
	installHelpers(t)
	ctx := context.Background()
	// credsStore is broken, but the host has its own helper, which answers.
	p := writeConfig(t, t.TempDir(), `{"credsStore":"broken","credHelpers":{"https://Reg.Example.com":"test"}}`)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "reg.example.com", auth.Credential{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	s2, _ := Load(p)
	if c := mustGet(t, s2, "reg.example.com"); c.Username != "u" {
		t.Fatalf("Get = %+v", c)
	}
	// A host without its own helper goes to the broken credsStore.
	if _, err := s2.Get(ctx, "other.example.com"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Get through broken credsStore = %v, want ErrUnavailable", err)
	}
}

func TestHelperFailuresAreOneLineWithoutSecrets(t *testing.T) {
	installHelpers(t)
	ctx := context.Background()
	s, err := Load(writeConfig(t, t.TempDir(), `{"credsStore":"broken"}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Save(ctx, "reg.example.com", auth.Credential{Username: "u", Password: "top-secret-pw"})
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Save = %v, want ErrUnavailable", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "top-secret-pw") {
		t.Errorf("error leaks the secret: %q", msg)
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "second line") {
		t.Errorf("error is not one line: %q", msg)
	}
	if !strings.Contains(msg, "docker-credential-broken") || !strings.Contains(msg, "could not talk to keychain") {
		t.Errorf("error %q does not name the helper and its message", msg)
	}
}

func TestMissingOrInvalidHelper(t *testing.T) {
	installHelpers(t)
	tests := []struct {
		config string
		want   string
	}{
		{`{"credsStore":"nope-not-installed"}`, "docker-credential-nope-not-installed is not installed"},
		{`{"credHelpers":{"reg.example.com":"../../bin/sh"}}`, "invalid"},
		{`{"credHelpers":{"reg.example.com":"-rf"}}`, "invalid"},
	}
	for _, tt := range tests {
		s, err := Load(writeConfig(t, t.TempDir(), tt.config))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Get(context.Background(), "reg.example.com")
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %s: Get = %v, want ErrInvalidArgument mentioning %q", tt.config, err, tt.want)
		}
	}
}

func TestHelperCancelled(t *testing.T) {
	installHelpers(t)
	s, err := Load(writeConfig(t, t.TempDir(), `{"credsStore":"test"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "reg.example.com"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled ctx = %v, want context.Canceled", err)
	}
}
