package cli_test

import (
	"strings"
	"syscall"
	"testing"

	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/test/internal/clitest"
)

// A blob fetched in parts and killed midway keeps the prefix it wrote; the
// next pull fetches only what is missing (the prefix stays, at most the
// parts that were in memory come again).
func TestInterruptedMultipartPullResumes(t *testing.T) {
	t.Parallel()
	e := newSlowEnv(t, 1, 40<<20)
	root := t.TempDir()
	e.throttle()
	p := clitest.Start(t, e.env, "--root", root, "--progress", "plain", "pull", "--parts", "4", e.ref)
	total := e.img.Layers[0].Size
	e.waitBytes(t, total/2)
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if res := p.Wait(t); res.Code != 128+9 {
		t.Fatalf("exit %d after SIGKILL", res.Code)
	}
	have, partial := committed(t, root)
	if partial == 0 {
		t.Fatal("no partial data kept")
	}
	left := e.remaining(have) - partial
	e.proxy.Clear()
	e.proxy.ResetCounters()
	mustRun(t, e.env, "--root", root, "pull", "--parts", "4", e.ref)
	sent := e.proxy.BlobBytes()
	t.Logf("killed with %d of %d bytes on disk; the resumed pull transferred %d for %d left", partial, total, sent, left)
	if sent > left+3*pull.DefaultPartSize+64<<10 {
		t.Fatalf("resumed pull transferred %d bytes for %d left: more than the parts that were in memory", sent, left)
	}
	verifyBlobs(t, root)
}

// Processes sharing a store fetch a multipart blob once between them, and
// a multipart pull (--parts: loopback is too fast for a split otherwise)
// stays within the memory bound, however many large
// layers it fetches at once (they share the pull's part buffers).
func TestMultipartPullDedupAndMemory(t *testing.T) {
	t.Parallel()
	e := newSlowEnv(t, 1, 40<<20)
	root := t.TempDir()
	var procs []*clitest.Process
	for range 3 {
		procs = append(procs, clitest.Start(t, e.env, "--root", root, "--progress", "plain", "pull", "--parts", "8", e.ref))
	}
	for i, p := range procs {
		if res := p.Wait(t); res.Code != 0 {
			t.Fatalf("process %d: exit %d: %s", i, res.Code, res.Stderr)
		}
	}
	layer := e.img.Layers[0].Digest.String()
	var bytes int64
	for _, r := range e.reg.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, layer) && r.Status == 206 {
			bytes++
		}
	}
	if want := (e.img.Layers[0].Size + pull.DefaultPartSize - 1) / pull.DefaultPartSize; bytes != want {
		t.Errorf("the registry answered %d part requests for the layer, want %d (one fetch for three processes)", bytes, want)
	}
	// The bound: (parts-1) x part size held, on top of imagec's usual peak.
	two := newSlowEnv(t, 2, 40<<20)
	_, one := clitest.PeakRSS(t, two.env, "--root", t.TempDir(), "pull", "--parts", "1", two.ref)
	res, peak := clitest.PeakRSS(t, two.env, "--root", t.TempDir(), "pull", "--parts", "8", two.ref)
	if res.Code != 0 {
		t.Fatal(res.Stderr)
	}
	t.Logf("peak RSS pulling two 40 MiB layers: %d MiB in parts, %d MiB as one stream each", peak>>20, one>>20)
	if peak > 40<<20 {
		t.Errorf("peak RSS %d MiB, want at most 40 MiB", peak>>20)
	}
}
