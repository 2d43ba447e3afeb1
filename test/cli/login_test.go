package cli_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imagec/imagec/test/internal/clitest"
)

// A registry whose /v2/ redirects to another host that asks for basic auth
// must not receive the password there, and login must not report success
// or save anything.
func TestLoginDoesNotFollowRedirectWithPassword(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			mu.Lock()
			leaked = append(leaked, a)
			mu.Unlock()
			return // accepts anything: a harvester
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="elsewhere"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(other.Close)
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	dockerConfig := t.TempDir()
	env := []string{"DOCKER_CONFIG=" + dockerConfig, "IMAGEC_ROOT="}

	res := clitest.Run(t, env, "wonder\n", "login", "-u", "alice", "--password-stdin", host)
	if res.Code == 0 || strings.Contains(res.Stdout, "Login Succeeded") {
		t.Errorf("login through a redirect succeeded: %+v", res)
	}
	mu.Lock()
	if len(leaked) != 0 {
		t.Errorf("the host /v2/ redirected to received Authorization %q", leaked)
	}
	mu.Unlock()
	if cfg, err := os.ReadFile(filepath.Join(dockerConfig, "config.json")); err == nil && strings.Contains(string(cfg), host) {
		t.Errorf("credentials saved after a failed login: %s", cfg)
	}
}
