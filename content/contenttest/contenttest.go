// Package contenttest is the conformance suite every content.Store
// implementation runs: the promises of package content, checked the same
// way for each, hostile on-disk state included (symlinked and truncated
// blobs, symlinked ingest files, names whose digest does not match).
package contenttest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
)

// Harness is one fresh store under test and the means to damage it.
type Harness struct {
	Store  content.Store
	Tamper Tamperer
}

// Tamperer plants, in a store's own files, what a hostile or broken
// program sharing them could leave. Links point at files the suite made.
type Tamperer interface {
	// SymlinkBlob puts a symlink to target where blob d belongs.
	SymlinkBlob(t *testing.T, d digest.Digest, target string)
	// TruncateBlob cuts committed blob d to size bytes.
	TruncateBlob(t *testing.T, d digest.Digest, size int64)
	// SymlinkIngest puts a symlink to target where a writer of desc would
	// keep its partial data.
	SymlinkIngest(t *testing.T, desc ocispec.Descriptor, target string)
	// ForgeName names desc name without any of the store's checks.
	ForgeName(t *testing.T, name string, desc ocispec.Descriptor)
}

// Run runs the suite, each case on a store newHarness makes.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newHarness(t))
		})
	}
}

var cases = []struct {
	name string
	run  func(*testing.T, Harness)
}{
	{"write, commit, read", testWriteCommitRead},
	{"wrong digest is never stored", testWrongDigest},
	{"size is enforced", testSize},
	{"resume after close", testResume},
	{"already exists", testAlreadyExists},
	{"second writer waits", testSecondWriterWaits},
	{"read bound", testReadBound},
	{"names", testNames},
	{"walk and delete", testWalkDelete},
	{"symlinked blob is absent and replaced", testSymlinkedBlob},
	{"truncated blob is absent and replaced", testTruncatedBlob},
	{"symlinked ingest is not written through", testSymlinkedIngest},
	{"a lying size does not cost the good blob", testLyingSize},
	{"forged name is caught by the graph's rule", testForgedName},
}

var ctx = context.Background()

func blob(n int) ([]byte, ocispec.Descriptor) {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(n)}
}

func assertStored(t *testing.T, st content.Provider, data []byte) {
	t.Helper()
	d := digest.FromBytes(data)
	got, err := st.ReadBlob(ctx, d, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadBlob(%s) = %d bytes, %v; want the %d written", d, len(got), err, len(data))
	}
	if !st.Has(ctx, ocispec.Descriptor{Digest: d, Size: int64(len(data))}) {
		t.Fatalf("Has(%s) = false after commit", d)
	}
}

func assertAbsent(t *testing.T, st content.Provider, desc ocispec.Descriptor) {
	t.Helper()
	if st.Has(ctx, desc) {
		t.Fatalf("Has(%s) = true", desc.Digest)
	}
	if r, err := st.Open(ctx, desc.Digest); !errors.Is(err, errdefs.ErrNotFound) {
		if r != nil {
			r.Close()
		}
		t.Fatalf("Open(%s) = %v, want not found", desc.Digest, err)
	}
}

func write(t *testing.T, st content.Ingester, desc ocispec.Descriptor, data []byte) error {
	t.Helper()
	w, err := st.Writer(ctx, desc)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Commit(ctx)
}

func testWriteCommitRead(t *testing.T, h Harness) {
	data, desc := blob(100_000)
	if err := write(t, h.Store, desc, data); err != nil {
		t.Fatal(err)
	}
	assertStored(t, h.Store, data)
	if n, err := h.Store.Info(ctx, desc.Digest); err != nil || n != desc.Size {
		t.Fatalf("Info = %d, %v", n, err)
	}
	r, err := h.Store.Open(ctx, desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tail := make([]byte, 10)
	if _, err := r.ReadAt(tail, desc.Size-10); err != nil || !bytes.Equal(tail, data[len(data)-10:]) || r.Size() != desc.Size {
		t.Fatalf("ReadAt/Size: %v, size %d", err, r.Size())
	}
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatalf("WriteBlob of a present blob = %v", err)
	}
}

func testWrongDigest(t *testing.T, h Harness) {
	data, desc := blob(5000)
	other := bytes.Clone(data)
	other[0] ^= 1
	if err := write(t, h.Store, desc, other); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("commit of other bytes = %v, want digest mismatch", err)
	}
	if err := h.Store.WriteBlob(ctx, desc, other); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("WriteBlob of other bytes = %v, want digest mismatch", err)
	}
	assertAbsent(t, h.Store, desc)
}

func testSize(t *testing.T, h Harness) {
	data, desc := blob(3000)
	if err := write(t, h.Store, desc, append(bytes.Clone(data), 'x')); !errors.Is(err, errdefs.ErrSizeMismatch) {
		t.Fatalf("write past the size = %v, want size mismatch", err)
	}
	if err := write(t, h.Store, desc, data[:100]); !errors.Is(err, errdefs.ErrSizeMismatch) {
		t.Fatalf("commit short = %v, want size mismatch", err)
	}
	assertAbsent(t, h.Store, desc)
}

func testResume(t *testing.T, h Harness) {
	data, desc := blob(50_000)
	w, err := h.Store.Writer(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:20_000]); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = h.Store.Writer(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Offset() != 20_000 {
		t.Fatalf("resumed at %d, want 20000", w.Offset())
	}
	if _, err := w.Write(data[20_000:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	assertStored(t, h.Store, data)
}

func testAlreadyExists(t *testing.T, h Harness) {
	data, desc := blob(10)
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.Writer(ctx, desc); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("Writer of a present blob = %v, want already exists", err)
	}
}

func testSecondWriterWaits(t *testing.T, h Harness) {
	data, desc := blob(1000)
	first, err := h.Store.Writer(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	var waited atomic.Bool
	done := make(chan error, 1)
	go func() {
		w, err := h.Store.Writer(ctx, desc, content.WithWaiting(func() { waited.Store(true) }))
		if err == nil {
			w.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !waited.Load() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if !waited.Load() {
		t.Fatal("the second writer did not wait")
	}
	if _, err := first.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("waiting writer = %v, want already exists once the first committed", err)
	}
}

func testReadBound(t *testing.T, h Harness) {
	data, desc := blob(2000)
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Store.ReadBlob(ctx, desc.Digest, 1999); !errors.Is(err, errdefs.ErrTooLarge) {
		t.Fatalf("ReadBlob over its bound = %v, want too large", err)
	}
}

// manifestOf stores a small OCI image and returns its manifest descriptor.
func manifestOf(t *testing.T, st content.Ingester, seed string) ocispec.Descriptor {
	t.Helper()
	layer := []byte("layer " + seed)
	ld := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + ld.Digest.String() + `"]}}`)
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	m := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":{"mediaType":"` + cd.MediaType +
		`","digest":"` + cd.Digest.String() + `","size":` + itoa(cd.Size) + `},"layers":[{"mediaType":"` + ld.MediaType +
		`","digest":"` + ld.Digest.String() + `","size":` + itoa(ld.Size) + `}]}`)
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	for _, b := range []struct {
		d ocispec.Descriptor
		p []byte
	}{{ld, layer}, {cd, cfg}, {md, m}} {
		if err := st.WriteBlob(ctx, b.d, b.p); err != nil {
			t.Fatal(err)
		}
	}
	return md
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func testNames(t *testing.T, h Harness) {
	st := h.Store
	a, b := manifestOf(t, st, "a"), manifestOf(t, st, "b")
	if err := st.SetImage(ctx, "example.com/x:1", a); err != nil {
		t.Fatal(err)
	}
	if err := st.SetImage(ctx, "example.com/x@"+b.Digest.String(), b); err != nil {
		t.Fatal(err)
	}
	if err := st.SetImage(ctx, "example.com/x:1", b); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Image(ctx, "example.com/x:1"); err != nil || got.Digest != b.Digest {
		t.Fatalf("Image after replace = %s, %v", got.Digest, err)
	}
	if all, err := st.Images(ctx); err != nil || len(all) != 2 {
		t.Fatalf("Images = %d, %v", len(all), err)
	}
	_, absent := blob(77)
	if err := st.SetImage(ctx, "example.com/absent:1", absent); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("SetImage of an absent blob = %v, want not found", err)
	}
	lie := a
	lie.Size++
	if err := st.SetImage(ctx, "example.com/lie:1", lie); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("SetImage with a wrong size = %v, want not found", err)
	}
	if err := st.SetImage(ctx, "example.com/x@"+a.Digest.String(), b); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("SetImage of a name pinning another digest = %v, want digest mismatch", err)
	}
	if err := st.RemoveImage(ctx, "example.com/x:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Image(ctx, "example.com/x:1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Image after RemoveImage = %v", err)
	}
}

func testWalkDelete(t *testing.T, h Harness) {
	data, desc := blob(321)
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	found := false
	if err := h.Store.Walk(ctx, func(d digest.Digest, size int64) error {
		found = found || (d == desc.Digest && size == desc.Size)
		return nil
	}); err != nil || !found {
		t.Fatalf("Walk found the blob: %v, %v", found, err)
	}
	if err := h.Store.Delete(ctx, desc.Digest); err != nil {
		t.Fatal(err)
	}
	assertAbsent(t, h.Store, desc)
	if err := h.Store.Delete(ctx, desc.Digest); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("second Delete = %v, want not found", err)
	}
}

// sentinel is a file outside the store that must survive the case.
func sentinel(t *testing.T, content []byte) (string, func()) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sentinel")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, func() {
		t.Helper()
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("the sentinel was written through: %v", err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("the sentinel's mode changed: %v", err)
		}
	}
}

func testSymlinkedBlob(t *testing.T, h Harness) {
	data, desc := blob(64)
	target, check := sentinel(t, bytes.Repeat([]byte("x"), len(data))) // same size, other content
	h.Tamper.SymlinkBlob(t, desc.Digest, target)
	assertAbsent(t, h.Store, desc)
	if _, err := h.Store.ReadBlob(ctx, desc.Digest, 1<<10); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("ReadBlob through a symlink = %v, want not found", err)
	}
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	assertStored(t, h.Store, data)
	check()
}

func testTruncatedBlob(t *testing.T, h Harness) {
	data, desc := blob(10_000)
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	h.Tamper.TruncateBlob(t, desc.Digest, 5000)
	if h.Store.Has(ctx, desc) {
		t.Fatal("Has = true for a blob cut to half its size")
	}
	if err := write(t, h.Store, desc, data); err != nil {
		t.Fatalf("a writer over a truncated blob: %v", err)
	}
	assertStored(t, h.Store, data)
}

func testSymlinkedIngest(t *testing.T, h Harness) {
	data, desc := blob(4096)
	target, check := sentinel(t, []byte("the sentinel's own bytes"))
	h.Tamper.SymlinkIngest(t, desc, target)
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	assertStored(t, h.Store, data)
	check()
}

func testForgedName(t *testing.T, h Harness) {
	a, b := manifestOf(t, h.Store, "a"), manifestOf(t, h.Store, "b")
	name := "example.com/x@" + a.Digest.String()
	h.Tamper.ForgeName(t, name, b)
	entry, err := h.Store.Image(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.CheckName(ctx, h.Store, name, entry); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("CheckName of a forged name = %v, want digest mismatch", err)
	}
}

// A descriptor that lies about the size of a present blob must not make a
// writer throw the good blob away: the replacement only lands if it
// verifies, and content of another size cannot hash to the same digest.
func testLyingSize(t *testing.T, h Harness) {
	data, desc := blob(300)
	if err := h.Store.WriteBlob(ctx, desc, data); err != nil {
		t.Fatal(err)
	}
	lie := desc
	lie.Size++
	if err := write(t, h.Store, lie, append(bytes.Clone(data), 'x')); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("commit under a lying size = %v, want digest mismatch", err)
	}
	assertStored(t, h.Store, data)
}
