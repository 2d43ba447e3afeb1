package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
)

// helperEnv switches the test binary into a helper process (see TestMain),
// which lets tests hold locks and write from genuinely separate processes.
const helperEnv = "IMAGEC_STORE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "hold-writer":
		helperHoldWriter()
	case "set-images":
		helperSetImages()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// helperHoldWriter opens a writer for testContent(SIZE), writes PARTIAL
// bytes, reports "locked" and then blocks until it is killed.
func helperHoldWriter() {
	size, _ := strconv.Atoi(os.Getenv("SIZE"))
	partial, _ := strconv.Atoi(os.Getenv("PARTIAL"))
	s, err := Open(os.Getenv("ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	data := testContent(size)
	w, err := s.Writer(context.Background(), descOf(data))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := w.Write(data[:partial]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Hour)
	os.Exit(3)
}

// helperSetImages records COUNT images named PREFIX-i.
func helperSetImages() {
	s, err := Open(os.Getenv("ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, _ := strconv.Atoi(os.Getenv("COUNT"))
	for i := range n {
		name := fmt.Sprintf("%s-%d", os.Getenv("PREFIX"), i)
		if err := s.SetImage(context.Background(), name, putManifest(s, name)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}

// startHelper runs this test binary as a helper process of the given mode.
func startHelper(t *testing.T, mode string, env ...string) (*os.Process, *bufio.Reader, func() error) {
	t.Helper()
	cmd := newHelperCmd(mode, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process, bufio.NewReader(out), cmd.Wait
}

func newHelperCmd(mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	return cmd
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testContent returns n deterministic bytes that differ per size, so
// blobs of different tests never collide.
func testContent(n int) []byte {
	b := make([]byte, n)
	x := uint32(n)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func descOf(b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func TestDefaultRoot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		uid  int
		home string
		want string
	}{
		{"env wins over root", map[string]string{"IMAGEC_ROOT": "/srv/ic", "XDG_DATA_HOME": "/x"}, 0, "/root", "/srv/ic"},
		{"root user", map[string]string{"XDG_DATA_HOME": "/x"}, 0, "/root", "/var/lib/imagec"},
		{"xdg", map[string]string{"XDG_DATA_HOME": "/data"}, 1000, "/home/u", "/data/imagec"},
		{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "rel"}, 1000, "/home/u", "/home/u/.local/share/imagec"},
		{"home", nil, 1000, "/home/u", "/home/u/.local/share/imagec"},
		{"no home", nil, 1000, "", filepath.Join(os.TempDir(), "imagec-1000")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := defaultRoot(func(k string) string { return tt.env[k] }, tt.uid, tt.home)
			if got != tt.want {
				t.Errorf("defaultRoot = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultRootEnv(t *testing.T) { // not parallel: sets process env
	t.Setenv("IMAGEC_ROOT", "/tmp/imagec-env-root")
	if got := DefaultRoot(); got != "/tmp/imagec-env-root" {
		t.Errorf("DefaultRoot with IMAGEC_ROOT = %q", got)
	}
	t.Setenv("IMAGEC_ROOT", "")
	t.Setenv("XDG_DATA_HOME", "/tmp/xdg")
	want := "/tmp/xdg/imagec"
	if os.Geteuid() == 0 {
		want = "/var/lib/imagec"
	}
	if got := DefaultRoot(); got != want {
		t.Errorf("DefaultRoot = %q, want %q", got, want)
	}
}

func TestOpenCreatesLayout(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != root {
		t.Errorf("Root = %q, want %q", s.Root(), root)
	}
	b, err := os.ReadFile(filepath.Join(root, "oci-layout"))
	if err != nil || string(b) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q, %v", b, err)
	}
	b, err = os.ReadFile(filepath.Join(root, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["schemaVersion"] != 2.0 || raw["mediaType"] != ocispec.MediaTypeImageIndex {
		t.Errorf("index.json = %s", b)
	}
	if m, ok := raw["manifests"].([]any); !ok || len(m) != 0 {
		t.Errorf("index.json manifests = %v, want []", raw["manifests"])
	}
	for _, d := range []string{"blobs/sha256", ".imagec/ingest"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(root, ".imagec", ".tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temp files left behind: %v", leftovers)
	}
}

func TestOpenIdempotent(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.SetImage(ctx, "docker.io/library/a:1", putManifest(s, "a")); err != nil {
		t.Fatal(err)
	}
	// Concurrent opens of an existing layout must not reset index.json.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := Open(root)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Image(ctx, "docker.io/library/a:1"); err != nil {
		t.Errorf("image lost after re-open: %v", err)
	}
}

func TestOpenConcurrentCreate(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "new")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := Open(root)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if imgs, err := s.Images(context.Background()); err != nil || len(imgs) != 0 {
		t.Errorf("Images = %v, %v", imgs, err)
	}
}

func TestOpenValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, content string
		want                error
	}{
		{"future layout version", "oci-layout", `{"imageLayoutVersion":"2.0.0"}`, errdefs.ErrUnsupported},
		{"garbage layout", "oci-layout", `not json`, errdefs.ErrInvalidArgument},
		{"garbage index", "index.json", `{`, errdefs.ErrInvalidArgument},
		{"index schema 1", "index.json", `{"schemaVersion":1,"manifests":[]}`, errdefs.ErrUnsupported},
		{"index of wrong type", "index.json", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}`, errdefs.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, tt.file), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(root); !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOpenAcceptsIndexWithoutMediaType(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	idx := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` +
		digest.FromString("m").String() + `","size":1,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`
	os.WriteFile(filepath.Join(root, "index.json"), []byte(idx), 0o644)
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image(context.Background(), "latest"); err != nil {
		t.Errorf("Image(latest) from foreign index: %v", err)
	}
}

func TestPath(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	d := digest.FromString("x")
	if got, want := s.Path(d), filepath.Join(s.Root(), "blobs", "sha256", d.Encoded()); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	for _, bad := range []digest.Digest{"", "sha256:../../etc", "../x:" + digest.Digest(d.Encoded()), "md5:abc"} {
		if got := s.Path(bad); got != "" {
			t.Errorf("Path(%q) = %q, want empty", bad, got)
		}
	}
}

func TestEmptyRoot(t *testing.T) {
	t.Parallel()
	if _, err := Open(""); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Open(\"\") = %v", err)
	}
}

// TestImports keeps the store independent of the network side: it may use
// the standard library, the OCI types, x/sys, errdefs, safefs, flock and the content roles and graph, nothing else (in
// particular no registry client and no net/http).
func TestImports(t *testing.T) {
	t.Parallel()
	allowed := []string{"github.com/opencontainers/", "golang.org/x/sys/unix", "github.com/imagec/imagec/errdefs", "github.com/imagec/imagec/internal/safefs", "github.com/imagec/imagec/internal/flock", "github.com/imagec/imagec/content"}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			std := !strings.Contains(strings.Split(path, "/")[0], ".")
			if std && !strings.HasPrefix(path, "net") ||
				slices.ContainsFunc(allowed, func(p string) bool { return strings.HasPrefix(path, p) }) {
				continue
			}
			t.Errorf("%s imports %s, which the store must not depend on", name, path)
		}
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
