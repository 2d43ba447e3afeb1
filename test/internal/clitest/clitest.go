// Package clitest builds the imagec binary, with its signature-checking
// helper imagec-sigstore beside it, once per test binary and runs it as a
// user would, for end-to-end tests of the CLI.
package clitest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// build builds imagec and imagec-sigstore into one directory, as `make
// build` and `go install ./cmd/...` install them, so that imagec finds its
// helper next to itself.
func build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imagec-bin-")
		if err != nil {
			buildErr = err
			return
		}
		// Built in imagec's own module (test/internal/clitest is three
		// levels below its root), with its go.mod: the binaries a user
		// builds, not ones linked against the test module's requirements.
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/imagec", "./cmd/imagec-sigstore")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
		binDir = dir
	})
	if buildErr != nil {
		t.Fatalf("building imagec: %v", buildErr)
	}
	return binDir
}

// Binary returns the path of an imagec binary built from this checkout;
// imagec-sigstore (Helper) is beside it.
func Binary(t testing.TB) string {
	t.Helper()
	return filepath.Join(build(t), "imagec")
}

// Helper returns the path of the imagec-sigstore beside Binary.
func Helper(t testing.TB) string {
	t.Helper()
	return filepath.Join(build(t), "imagec-sigstore")
}

// Alone returns the path of a copy of imagec in a directory of its own,
// without imagec-sigstore beside it.
func Alone(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "imagec")
	if err := os.Link(Binary(t), p); err != nil {
		data, err := os.ReadFile(Binary(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Result is what one run printed and how it exited.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs imagec with args, env added to the test's environment and stdin
// fed from stdin.
func Run(t testing.TB, env []string, stdin string, args ...string) Result {
	t.Helper()
	return RunBinary(t, Binary(t), env, stdin, args...)
}

// RunBinary is Run of the imagec at bin (one of Alone's, say).
func RunBinary(t testing.TB, bin string, env []string, stdin string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running imagec: %v", err)
	}
	return res
}

// Process is imagec running in the background.
type Process struct {
	Cmd            *exec.Cmd
	Stdout, Stderr bytes.Buffer
}

// Start runs imagec with args in the background; Wait collects its result.
func Start(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(Binary(t), args...)}
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = &p.Stdout, &p.Stderr
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("starting imagec: %v", err)
	}
	t.Cleanup(func() {
		if p.Cmd.ProcessState == nil {
			_ = p.Cmd.Process.Kill()
			_ = p.Cmd.Wait()
		}
	})
	return p
}

// Wait waits for the process to end and returns what it printed.
func (p *Process) Wait(t testing.TB) Result {
	t.Helper()
	err := p.Cmd.Wait()
	res := Result{Stdout: p.Stdout.String(), Stderr: p.Stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
		if res.Code < 0 {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.Code = 128 + int(ws.Signal())
			}
		}
	case err != nil:
		t.Fatalf("waiting for imagec: %v", err)
	}
	return res
}

// PeakRSS runs imagec with args and returns its result with the peak
// resident set size of the imagec process (its VmHWM, read from /proc while
// it runs, so the test binary's own memory, which a forked child's rusage
// would include, is not counted).
func PeakRSS(t testing.TB, env []string, args ...string) (Result, int64) {
	t.Helper()
	p := Start(t, env, args...)
	status := fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid)
	var peak int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := os.ReadFile(status)
			if err != nil {
				return // exited
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kb int64
					fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
					peak = max(peak, kb<<10)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	res := p.Wait(t)
	<-done
	return res, peak
}

// Buffer collects what a running process writes, readable while it runs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
