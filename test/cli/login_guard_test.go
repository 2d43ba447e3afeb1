package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// `imagec login` against a registry whose token realm redirects to another
// host (here another port of 127.0.0.1, which net/http alone would not
// strip for): the realm gets the basic credentials, the host it redirects
// to never does. The same guard is tested on the auth transport alone in
// registry/auth; this reaches it through the CLI's login path.
func TestLoginRealmRedirectCarriesNoPassword(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var realmAuth, targetAuth []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		targetAuth = append(targetAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
	}))
	t.Cleanup(target.Close)
	realm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		realmAuth = append(realmAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Redirect(w, r, target.URL+"/token?"+r.URL.RawQuery, http.StatusFound)
	}))
	t.Cleanup(realm.Close)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm.URL+`/token",service="fake"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	res := clitest.Run(t, env, "s3cret\n", "login", "-u", "alice", "--password-stdin", host)
	if res.Code == 0 {
		t.Fatalf("login succeeded without a token: %+v", res)
	}
	if strings.Contains(res.Stdout+res.Stderr, "s3cret") {
		t.Fatalf("the password was printed: %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(realmAuth) == 0 || !strings.HasPrefix(realmAuth[0], "Basic ") {
		t.Fatalf("the realm saw Authorization %q: the test never reached the redirect with credentials", realmAuth)
	}
	if len(targetAuth) == 0 {
		t.Fatal("the redirect was not followed")
	}
	for _, a := range targetAuth {
		if a != "" {
			t.Fatalf("the host the realm redirected to received Authorization (%d bytes)", len(a))
		}
	}
}

// `imagec login` leaves config.json readable by its owner only, also when
// the file was there before with a wider mode (as an editor or another tool
// may leave it), and keeps what the file held.
func TestLoginKeepsConfigPrivate(t *testing.T) {
	t.Parallel()
	reg, _, _ := seeded(t, testregistry.WithBasicAuth("alice", "wonder"))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(`{"detachKeys":"ctrl-q"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfgPath, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	env := []string{"DOCKER_CONFIG=" + dir, "IMAGEC_ROOT="}
	if res := clitest.Run(t, env, "wonder\n", "login", "-u", "alice", "--password-stdin", reg.Host); res.Code != 0 {
		t.Fatalf("login: %+v", res)
	}
	fi, err := os.Stat(cfgPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config.json mode after login: %v, %v; want 0600", fi.Mode(), err)
	}
	var cfg map[string]json.RawMessage
	if raw, err := os.ReadFile(cfgPath); err != nil || json.Unmarshal(raw, &cfg) != nil {
		t.Fatalf("config.json after login: %s %v", raw, err)
	}
	if string(cfg["detachKeys"]) != `"ctrl-q"` || !strings.Contains(string(cfg["auths"]), reg.Host) {
		t.Fatalf("config.json after login: %v", cfg)
	}
}
