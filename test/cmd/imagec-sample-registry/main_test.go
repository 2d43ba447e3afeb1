package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/testregistry"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunSeedsAndServes(t *testing.T) {
	t.Parallel()
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--ready-file", ready}, &out, io.Discard)
	}()

	var host string
	deadline := time.Now().Add(time.Minute)
	for host == "" {
		if b, err := os.ReadFile(ready); err == nil {
			host = strings.TrimSpace(string(b))
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no ready file after a minute")
		}
	}

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 || lines[5] != "ready" {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, l := range lines[:5] {
		ref, dgst, ok := strings.Cut(l, "  ")
		if !ok || !strings.HasPrefix(ref, host+"/samples/") || !strings.HasPrefix(dgst, "sha256:") {
			t.Errorf("line %q, want HOST/samples/...  sha256:...", l)
		}
	}
	if !strings.Contains(out.String(), host+"/"+testregistry.SampleHello+"  sha256:") {
		t.Errorf("no line for %s", testregistry.SampleHello)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, "http://"+host+"/v2/samples/hello/manifests/latest", nil)
	req.Header.Set("Accept", fixtures.MediaTypeDockerManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD hello manifest: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Errorf("ready file left behind: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"user without password", []string{"--user", "u"}},
		{"unknown auth", []string{"--user", "u", "--password", "p", "--auth", "digest"}},
		{"extra argument", []string{"extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), append([]string{"--addr", "127.0.0.1:0"}, tc.args...), io.Discard, io.Discard)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}
