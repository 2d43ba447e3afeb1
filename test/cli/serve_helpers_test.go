package cli_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imagec/imagec/internal/testtool"
	"github.com/imagec/imagec/test/internal/clitest"
)

// server is `imagec serve` running in the background on a free loopback
// port.
type server struct {
	cmd    *exec.Cmd
	addr   string // host:port
	stderr *clitest.Buffer
}

// startServe runs `imagec --root ROOT serve --addr 127.0.0.1:0 ARGS...`
// and waits for the line saying where it listens.
func startServe(t *testing.T, env []string, root string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(clitest.Binary(t), append([]string{"--root", root, "serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	s := &server{cmd: cmd, stderr: &clitest.Buffer{}}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("imagec serve printed %q (%v); stderr:\n%s", line, err, s.stderr)
	}
	go io.Copy(io.Discard, out)
	_, s.addr, _ = strings.Cut(strings.TrimSpace(line), "://")
	if !strings.HasPrefix(s.addr, "127.0.0.1:") {
		t.Fatalf("imagec serve printed %q", line)
	}
	return s
}

// stop sends SIGTERM and returns the exit code: a graceful shutdown is 0.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := s.cmd.Wait()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// kill ends the server at once (SIGKILL), as a crash would.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

func httpDo(t *testing.T, method, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// containerd is a containerd daemon of the test's own: root, state and
// sockets in a temporary directory, never the system's.
type containerd struct {
	sock string
	ctr  string
}

// startContainerd starts containerd with only the plugins a pull needs
// and waits until it answers. It is killed (by PID) when the test ends.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	bin := testtool.Require(t, "containerd")
	ctr := testtool.Require(t, "ctr")
	dir := t.TempDir()
	c := &containerd{sock: filepath.Join(dir, "c.sock"), ctr: ctr}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "opt"))
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &clitest.Buffer{}
	cmd := exec.Command(bin, "--config", cfg, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if out, err := exec.Command(ctr, "--address", c.sock, "version").CombinedOutput(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer: %v %s\nits log:\n%s", err, out, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// run runs ctr against the daemon in namespace ns.
func (c *containerd) run(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command(c.ctr, append([]string{"--address", c.sock, "--namespace", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// imageDigest is the digest ctr lists ref under.
func (c *containerd) imageDigest(t *testing.T, ns, ref string) string {
	t.Helper()
	for _, line := range strings.Split(c.run(t, ns, "images", "ls"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == ref {
			return f[2]
		}
	}
	t.Fatalf("ctr does not list %s", ref)
	return ""
}

// mirrorHostsDir writes a containerd hosts directory naming mirror as the one
// host for registry (containerd's certs.d layout).
func mirrorHostsDir(t *testing.T, registry, mirror string) string {
	t.Helper()
	return hostsDir(t, registry, fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+registry, "http://"+mirror))
}
