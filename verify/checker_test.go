package verify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/verify/sigcheck"
)

// fakeHelper writes a shell script standing in for imagec-sigstore.
func fakeHelper(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), HelperName)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nPATH=/usr/bin:/bin\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func oneRequest() *sigcheck.Request {
	return &sigcheck.Request{
		Version: sigcheck.Version, Digest: digest.FromString("manifest").String(),
		Trust:   []sigcheck.Trust{{Keys: []string{"k"}}},
		Bundles: [][]byte{[]byte("{}")},
	}
}

// Whatever a helper writes or however it ends, a check fails in one line
// naming it, never with a verdict.
func TestHelperFailures(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		script string
		want   string
		is     error
	}{
		"garbage":       {"cat >/dev/null; echo 'garbage'", "imagec-sigstore: an unreadable response", nil},
		"trailing":      {`cat >/dev/null; echo '{"version":1,"results":[{"bundles":[{}],"legacy":[]}]} {}'`, "more after its JSON value", nil},
		"oversize":      {"cat >/dev/null; head -c 5000000 /dev/zero", "imagec-sigstore: a response over 4194304 bytes", errdefs.ErrTooLarge},
		"endless":       {"cat >/dev/null; exec yes", "imagec-sigstore: a response over 4194304 bytes", errdefs.ErrTooLarge},
		"exit":          {"cat >/dev/null; echo 'request version 0, want 1' >&2; exit 2", "imagec-sigstore: exit status 2: request version 0, want 1", nil},
		"no reading":    {"exit 3", "imagec-sigstore: exit status 3", nil},
		"another shape": {`cat >/dev/null; echo '{"version":1,"results":[]}'`, "a response that does not answer the request: 0 results for 1 requirements", nil},
		"another reason": {`cat >/dev/null; echo '{"version":1,"results":[{"bundles":[{"reason":"fine","error":"x"}],"legacy":[]}]}'`,
			`unknown reason "fine"`, nil},
		"another version": {`cat >/dev/null; echo '{"version":2,"results":[]}'`, "response version 2, want 1", nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Helper(fakeHelper(t, tt.script)).CheckSignatures(context.Background(), oneRequest())
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %q, want %q in one line", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, not %v", err, tt.is)
			}
		})
	}
	// What a helper that answers gets, on its standard input and in its
	// environment: the request, and nothing else.
	dir := t.TempDir()
	ok := fakeHelper(t, `cat >"`+dir+`/req"; env >"`+dir+`/env"; echo '{"version":1,"results":[{"bundles":[{"reason":"malformed","error":"not a bundle"}],"legacy":[]}]}'`)
	resp, err := Helper(ok).CheckSignatures(context.Background(), oneRequest())
	if err != nil || resp.Results[0].Bundles[0].Reason != sigcheck.Malformed {
		t.Fatalf("resp %+v, err %v", resp, err)
	}
	req, _ := os.ReadFile(filepath.Join(dir, "req"))
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	if !strings.Contains(string(req), `"digest":"sha256:`) || strings.Contains(string(env), "HTTP") || strings.Contains(string(env), "HOME=") {
		t.Fatalf("request %s\nenvironment %s", req, env)
	}
}

// A check is killed when its context ends.
func TestHelperCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Helper(fakeHelper(t, "exec sleep 30")).CheckSignatures(ctx, oneRequest())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "imagec-sigstore: ") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v: not killed", took)
	}
}

// Without a helper, a check says which program it needs and where it
// looked, in one line; a Verifier says so before reading any signature.
func TestHelperMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, c := range map[string]Checker{
		"absent":         Helper(filepath.Join(dir, HelperName)),
		"not executable": Helper(fakeHelperMode(t, 0o644)),
		"a directory":    Helper(dir),
	} {
		_, err := c.CheckSignatures(context.Background(), oneRequest())
		if !errors.Is(err, ErrNoHelper) || !strings.HasPrefix(err.Error(), "signature verification needs imagec-sigstore: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %q", name, err)
		}
		if err := ready(c); !errors.Is(err, ErrNoHelper) {
			t.Errorf("%s: ready: %v", name, err)
		}
	}
}

func fakeHelperMode(t *testing.T, mode os.FileMode) string {
	p := fakeHelper(t, "exit 0")
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// Found next to the running program first, then on PATH; else the error
// names both places.
func TestHelperLookup(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(exe), HelperName)); err == nil {
		t.Skip("an imagec-sigstore next to the test binary")
	}
	t.Setenv("PATH", t.TempDir())
	h := Helper("").(*helper)
	_, err = h.find()
	want := "signature verification needs imagec-sigstore next to " + filepath.Base(exe) + " or on PATH: no " + filepath.Join(filepath.Dir(exe), HelperName) + ", and none on PATH"
	if !errors.Is(err, ErrNoHelper) || err.Error() != want {
		t.Fatalf("err = %q\nwant  %q", err, want)
	}
	onPath := filepath.Dir(fakeHelper(t, "exit 0"))
	t.Setenv("PATH", onPath)
	if p, err := h.find(); err != nil || p != filepath.Join(onPath, HelperName) {
		t.Fatalf("on PATH: %q, %v", p, err)
	}
}
