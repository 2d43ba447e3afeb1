package cli_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/clitest"
	"github.com/imagec/imagec/test/internal/faultproxy"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// slowEnv is a registry holding a multi-layer image behind a proxy that
// can slow blob transfers down enough to interrupt them mid-way.
type slowEnv struct {
	reg   *testregistry.Registry
	proxy *faultproxy.Proxy
	img   *fixtures.Image
	ref   string
	env   []string
}

func newSlowEnv(t *testing.T, layers, layerSize int) *slowEnv {
	t.Helper()
	reg := testregistry.Start(t)
	img, err := fixtures.NewImage(31, layers, layerSize, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Push(context.Background(), "big/img", "latest", img); err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, reg.URL)
	return &slowEnv{reg: reg, proxy: proxy, img: img, ref: proxy.Host + "/big/img:latest",
		env: []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}}
}

// throttle makes every blob trickle at about 4 MB/s.
func (e *slowEnv) throttle() {
	e.proxy.Inject(faultproxy.Trickle(faultproxy.Blob, 0, 64<<10, 15*time.Millisecond))
}

// waitBytes waits until the proxy has sent n blob bytes.
func (e *slowEnv) waitBytes(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for e.proxy.BlobBytes() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d bytes sent", e.proxy.BlobBytes(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// committed lists the blobs in the store and how many bytes wait in ingest.
func committed(t *testing.T, root string) (map[digest.Digest]bool, int64) {
	t.Helper()
	out := map[digest.Digest]bool{}
	ents, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	for _, e := range ents {
		out[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] = true
	}
	var partial int64
	ings, _ := os.ReadDir(filepath.Join(root, ".imagec", "ingest"))
	for _, e := range ings {
		if fi, err := os.Stat(filepath.Join(root, ".imagec", "ingest", e.Name(), "data")); err == nil {
			partial += fi.Size()
		}
	}
	return out, partial
}

// verifyBlobs hashes every blob of the store.
func verifyBlobs(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil || fmt.Sprintf("%x", h.Sum(nil)) != e.Name() {
			t.Fatalf("blob %s does not match its digest (%v)", e.Name(), err)
		}
	}
}

func (e *slowEnv) remaining(have map[digest.Digest]bool) int64 {
	var n int64
	for _, l := range e.img.Layers {
		if !have[l.Digest] {
			n += l.Size
		}
	}
	if !have[e.img.ConfigDesc.Digest] {
		n += e.img.ConfigDesc.Size
	}
	return n
}

// Ctrl-C at half of a large layer, then pull again: the second pull sends
// little more than what was left, measured at the registry's side.
func TestInterruptedPullResumes(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			e := newSlowEnv(t, 1, 8<<20)
			root := t.TempDir()
			e.throttle()
			p := clitest.Start(t, e.env, "--root", root, "--progress", "plain", "pull", e.ref)
			total := e.img.Layers[0].Size
			e.waitBytes(t, total/2)
			if err := p.Cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			res := p.Wait(t)
			if sig == syscall.SIGINT && (res.Code != 130 || !strings.Contains(res.Stderr, "interrupted")) {
				t.Fatalf("after Ctrl-C: exit %d, stderr %q; want 130 and a short message", res.Code, res.Stderr)
			}
			if sig == syscall.SIGKILL && res.Code != 128+9 {
				t.Fatalf("exit %d after SIGKILL", res.Code)
			}
			have, partial := committed(t, root)
			if partial == 0 {
				t.Fatal("no partial data kept")
			}
			left := e.remaining(have) - partial
			e.proxy.Clear()
			e.proxy.ResetCounters()
			out := mustRun(t, e.env, "--root", root, "pull", e.ref)
			if !strings.Contains(out, "Downloaded newer image") {
				t.Fatalf("resumed pull printed:\n%s", out)
			}
			sent := e.proxy.BlobBytes()
			t.Logf("%s at %d of %d bytes; kept %d; resumed pull transferred %d bytes for %d left (%.1f%% of the layer)",
				sig, total-left, total, partial, sent, left, 100*float64(sent)/float64(total))
			if sent > left+left/20+64<<10 {
				t.Fatalf("resumed pull transferred %d bytes, but only %d were left", sent, left)
			}
			verifyBlobs(t, root)
		})
	}
}

// Eight processes pulling the same image into one store fetch each blob
// exactly once; the others wait and reuse it.
func TestEightProcessesFetchEachBlobOnce(t *testing.T) {
	t.Parallel()
	e := newSlowEnv(t, 4, 512<<10)
	e.throttle()
	root := t.TempDir()
	var procs []*clitest.Process
	for range 8 {
		procs = append(procs, clitest.Start(t, e.env, "--root", root, "--progress", "plain", "pull", e.ref))
	}
	waited := 0
	for i, p := range procs {
		res := p.Wait(t)
		if res.Code != 0 {
			t.Fatalf("process %d: exit %d: %s", i, res.Code, res.Stderr)
		}
		if strings.Contains(res.Stdout, "Waiting") {
			waited++
		}
	}
	gets := map[string]int{}
	for _, r := range e.reg.Requests() {
		if r.Method == "GET" && strings.Contains(r.Path, "/blobs/") {
			gets[r.Path[strings.LastIndex(r.Path, "/")+1:]]++
		}
	}
	want := append([]digest.Digest{e.img.ConfigDesc.Digest}, layerDigests(e.img)...)
	for _, d := range want {
		if gets[d.String()] != 1 {
			t.Fatalf("blob %s fetched %d times by 8 processes: %v", d, gets[d.String()], gets)
		}
	}
	if len(gets) != len(want) {
		t.Fatalf("unexpected blob requests: %v", gets)
	}
	t.Logf("%d of 8 processes showed Waiting", waited)
	verifyBlobs(t, root)
}

func layerDigests(img *fixtures.Image) []digest.Digest {
	var out []digest.Digest
	for _, l := range img.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// SIGKILL at random points of many pulls; each next pull re-downloads only
// what was not committed, and the store stays clean.
func TestKilledAtRandomPoints(t *testing.T) {
	t.Parallel()
	e := newSlowEnv(t, 4, 1<<20)
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 6 {
		e.proxy.Clear()
		e.throttle()
		p := clitest.Start(t, e.env, "--root", root, "--progress", "plain", "pull", e.ref)
		time.Sleep(time.Duration(rng.IntN(900)) * time.Millisecond)
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		p.Wait(t)
		verifyBlobs(t, root)
		if round%2 == 1 {
			continue
		}
		// Every so often, check that what was committed is not asked again.
		have, _ := committed(t, root)
		e.reg.ResetRequests()
		e.proxy.Clear()
		p = clitest.Start(t, e.env, "--root", root, "--progress", "plain", "pull", e.ref)
		time.Sleep(50 * time.Millisecond)
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		p.Wait(t)
		for _, r := range e.reg.Requests() {
			if i := strings.LastIndex(r.Path, "/blobs/"); i >= 0 && r.Method == "GET" && have[digest.Digest(r.Path[i+7:])] {
				t.Fatalf("round %d: committed blob %s downloaded again", round, r.Path[i+7:])
			}
		}
	}
	e.proxy.Clear()
	e.reg.ResetRequests()
	have, _ := committed(t, root)
	out := mustRun(t, e.env, "--root", root, "pull", e.ref)
	if !strings.Contains(out, "Status: ") {
		t.Fatalf("final pull printed:\n%s", out)
	}
	for _, r := range e.reg.Requests() {
		if i := strings.LastIndex(r.Path, "/blobs/"); i >= 0 && r.Method == "GET" && have[digest.Digest(r.Path[i+7:])] {
			t.Fatalf("committed blob %s downloaded again", r.Path[i+7:])
		}
	}
	verifyBlobs(t, root)
	mustRun(t, e.env, "--root", root, "inspect", e.ref)
	if out := mustRun(t, e.env, "--root", root, "fsck"); !strings.Contains(out, ": 0 problems") {
		t.Fatalf("fsck after the crashes:\n%s", out)
	}
}

// A full disk fails the pull at once with a clear error, without a storm of
// retries, and the pull completes once there is room.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "small")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", root).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", root).Run() })
	e := newSlowEnv(t, 2, 1<<20)
	res := run(t, e.env, "--root", root, "pull", e.ref)
	if res.Code != 1 || !strings.Contains(res.Stderr, "no space left on device") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Fatalf("pull on a full disk: exit %d, stderr %q", res.Code, res.Stderr)
	}
	if gets := e.proxy.BlobGets(); gets > 3 {
		t.Fatalf("%d blob requests on a full disk: a retry storm", gets)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=16m", root).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	mustRun(t, e.env, "--root", root, "pull", e.ref)
	verifyBlobs(t, root)
}
