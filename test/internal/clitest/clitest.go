// Package clitest builds the imagec binary once per test binary and runs it
// as a user would, for end-to-end tests of the CLI.
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
	binPath   string
	buildErr  error
)

// Binary returns the path of an imagec binary built from this checkout.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imagec-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "imagec")
		// Built in imagec's own module (test/internal/clitest is three
		// levels below its root), with its go.mod: the binary a user
		// builds, not one linked against the test module's requirements.
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/imagec")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building imagec: %v", buildErr)
	}
	return binPath
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
	cmd := exec.Command(Binary(t), args...)
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
