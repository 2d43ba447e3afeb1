package cli_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagec/imagec/test/internal/testregistry"
)

// A mirror that serves only nodes holding the fleet's client certificate:
// hosts.toml's ca and client, relative to the host's directory.
func TestHostsDirClientCertificate(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	img := fleetImage(t, 4104, upstream, "fleet/app")
	ref := upstream.Host + "/fleet/app:v1"
	dir := t.TempDir()
	nsDir := filepath.Join(dir, upstream.Host)
	if err := os.MkdirAll(nsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	mtls, err := testregistry.NewMutualTLS(nsDir)
	if err != nil {
		t.Fatal(err)
	}
	m := startMirror(t, upstream, mirrorOptions{tls: mtls.Server})
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(nsDir, "hosts.toml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, client := range []string{`[["client.cert", "client.key"]]`, `"client.pem"`} {
		write(fmt.Sprintf("[host.\"https://%s\"]\n  ca = \"ca.pem\"\n  client = %s\n", m.Host, client))
		before := m.blobGets()
		out := pullVia(t, dir, ref)
		if strings.Contains(out, "failed") || m.blobGets()-before != len(img.Layers)+1 {
			t.Fatalf("client %s: the mirror served %d blobs; printed:\n%s", client, m.blobGets()-before, out)
		}
	}
	// Without the certificate the handshake fails and the registry serves.
	write(fmt.Sprintf("[host.\"https://%s\"]\n  ca = \"ca.pem\"\n", m.Host))
	if out := pullVia(t, dir, ref); !strings.Contains(out, "mirror "+m.Host+" failed") {
		t.Fatalf("no client certificate, yet:\n%s", out)
	}
	// Nor without the CA: TLS is verified unless skip_verify says not to.
	write(fmt.Sprintf("[host.\"https://%s\"]\n  client = \"client.pem\"\n", m.Host))
	if out := pullVia(t, dir, ref); !strings.Contains(out, "mirror "+m.Host+" failed") {
		t.Fatalf("an unverified mirror was used:\n%s", out)
	}
	write(fmt.Sprintf("[host.\"https://%s\"]\n  client = \"client.pem\"\n  skip_verify = true\n", m.Host))
	if out := pullVia(t, dir, ref); strings.Contains(out, "failed") {
		t.Fatalf("skip_verify:\n%s", out)
	}
}

// docs/fleet.md, "A Distribution pull-through cache": every node's
// hosts.toml names the cache; the registry sends each blob once however
// many nodes pull.
func TestHostsDirPullThroughCache(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	img := fleetImage(t, 4105, upstream, "fleet/app")
	cache := testregistry.Start(t, testregistry.WithPullThrough(upstream.URL))
	dir := hostsDir(t, upstream.Host, fmt.Sprintf(`server = "http://%s"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`, upstream.Host, cache.Host))
	ref := upstream.Host + "/fleet/app:v1"
	upstream.ResetRequests()
	for node := range 3 {
		if out := pullVia(t, dir, ref); strings.Contains(out, "failed") {
			t.Fatalf("node %d:\n%s", node, out)
		}
	}
	if got := blobGets(cache); len(got) != len(img.Layers)+1 {
		t.Fatalf("the cache served %v, want every blob", got)
	}
	up := blobGets(upstream)
	if len(up) != len(img.Layers)+1 {
		t.Fatalf("upstream sent %v, want every blob once", up)
	}
	for d, n := range up {
		if n != 1 {
			t.Errorf("the registry sent blob %s %d times to 3 nodes behind the cache", d, n)
		}
	}
	for _, r := range cache.Requests() {
		if !strings.Contains(r.Query, "ns="+upstream.Host) && !strings.Contains(r.Query, "ns="+strings.ReplaceAll(upstream.Host, ":", "%3A")) {
			t.Errorf("the cache got %s %s?%s, without ns=", r.Method, r.Path, r.Query)
		}
	}
}

// A hosts.toml that does not parse fails the registries it serves with
// one line naming it, not the others; the config file's hostsDir is read,
// and --hosts-dir "" reads none.
func TestHostsDirErrorsAndSources(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t)
	fleetImage(t, 4106, upstream, "fleet/app")
	other := testregistry.Start(t)
	fleetImage(t, 4107, other, "fleet/other")
	dir := hostsDir(t, upstream.Host, "[host.\"http://mirror.example.com\"]\n  capabilities = [\"pul\"]\n")
	env := isolated(t)

	res := run(t, env, "--root", t.TempDir(), "--hosts-dir", dir, "pull", upstream.Host+"/fleet/app:v1")
	file := filepath.Join(dir, upstream.Host, "hosts.toml")
	if res.Code != 1 || !strings.Contains(res.Stderr, file) || !strings.Contains(res.Stderr, `capability "pul"`) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Fatalf("bad hosts.toml: %+v", res)
	}
	mustRun(t, env, "--root", t.TempDir(), "--hosts-dir", dir, "pull", other.Host+"/fleet/other:v1")
	mustRun(t, env, "--root", t.TempDir(), "--hosts-dir", "", "pull", upstream.Host+"/fleet/app:v1")

	res = run(t, env, "--root", t.TempDir(), "--hosts-dir", filepath.Join(dir, "missing"), "pull", other.Host+"/fleet/other:v1")
	if res.Code != 1 || !strings.Contains(res.Stderr, "hosts dir") {
		t.Fatalf("missing hosts dir: %+v", res)
	}

	// The config file names the directory; the flag, even empty, wins.
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{"hostsDir": %q}`, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	withCfg := append(isolated(t), "IMAGEC_CONFIG="+cfg)
	if res := run(t, withCfg, "--root", t.TempDir(), "pull", upstream.Host+"/fleet/app:v1"); res.Code != 1 || !strings.Contains(res.Stderr, file) {
		t.Fatalf("hostsDir from the config: %+v", res)
	}
	mustRun(t, withCfg, "--root", t.TempDir(), "--hosts-dir=", "pull", upstream.Host+"/fleet/app:v1")

	// manifest reads where pull would.
	m := startMirror(t, upstream, mirrorOptions{})
	good := hostsDir(t, upstream.Host, fmt.Sprintf("[host.\"http://%s\"]\n", m.Host))
	mustRun(t, env, "--hosts-dir", good, "manifest", upstream.Host+"/fleet/app:v1")
	if rs := m.requests(); len(rs) == 0 || rs[len(rs)-1].Query.Get("ns") != upstream.Host || !strings.HasSuffix(rs[len(rs)-1].Path, "/manifests/v1") {
		t.Fatalf("manifest did not read the mirror: %v", rs)
	}
}

// Credentials belong to a host: a mirror named by hosts.toml gets those
// stored for the mirror, never the registry's.
func TestHostsDirMirrorCredentials(t *testing.T) {
	t.Parallel()
	upstream := testregistry.Start(t, testregistry.WithBasicAuth("hub-user", "hub-pass"))
	mirrorReg := testregistry.Start(t, testregistry.WithBasicAuth("mirror-user", "mirror-pass"))
	fleetImage(t, 4108, upstream, "fleet/app")
	fleetImage(t, 4108, mirrorReg, "fleet/app")
	dir := hostsDir(t, upstream.Host, fmt.Sprintf("[host.\"http://%s\"]\n", mirrorReg.Host))
	ref := upstream.Host + "/fleet/app:v1"
	dockerConfig := func(auths map[string]string) string {
		d := t.TempDir()
		var entries []string
		for host, userpass := range auths {
			entries = append(entries, fmt.Sprintf("%q: {\"auth\": %q}", host, base64.StdEncoding.EncodeToString([]byte(userpass))))
		}
		if err := os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"auths": {`+strings.Join(entries, ",")+`}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	pull := func(auths map[string]string) string {
		env := append(isolated(t), "DOCKER_CONFIG="+dockerConfig(auths))
		return mustRun(t, env, "--root", t.TempDir(), "--hosts-dir", dir, "--progress", "plain", "pull", ref)
	}

	both := map[string]string{upstream.Host: "hub-user:hub-pass", mirrorReg.Host: "mirror-user:mirror-pass"}
	if out := pull(both); strings.Contains(out, "failed") {
		t.Fatalf("the mirror refused its own credentials:\n%s", out)
	}
	mirrorReg.ResetRequests()
	if out := pull(map[string]string{upstream.Host: "hub-user:hub-pass"}); !strings.Contains(out, "mirror "+mirrorReg.Host+" failed") {
		t.Fatalf("the mirror served without credentials of its own:\n%s", out)
	}
	for _, r := range mirrorReg.Requests() {
		if r.Authorization {
			t.Errorf("the mirror got an Authorization header with only the registry's credentials stored: %s %s", r.Method, r.Path)
		}
	}
}
