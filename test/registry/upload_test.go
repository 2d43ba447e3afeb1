package registry_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// randomBlob is n pseudo-random bytes (seeded, so failures reproduce) and
// their descriptor.
func randomBlob(seed uint64, n int) ([]byte, ocispec.Descriptor) {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, blobDesc(b)
}

func regRef(t *testing.T, reg *testregistry.Registry, repo string) reference.Reference {
	t.Helper()
	return reference.MustParse(reg.Host + "/" + repo)
}

// readBack fetches blob desc from ref and fails t unless it is data.
func readBack(t *testing.T, c *registry.Client, ref reference.Reference, desc ocispec.Descriptor, data []byte) {
	t.Helper()
	rc, _, err := c.OpenBlob(context.Background(), ref, desc, 0)
	if err != nil {
		t.Fatalf("reading back %s: %v", desc.Digest, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want the %d pushed", len(got), err, len(data))
	}
}

// uploads are the requests of the registry log that carried blob content:
// PATCHes and PUTs to upload sessions.
func uploads(reg *testregistry.Registry) (reqs []testregistry.Request, received int64) {
	for _, r := range reg.Requests() {
		if strings.Contains(r.Path, "/blobs/uploads/") && (r.Method == http.MethodPatch || r.Method == http.MethodPut) {
			reqs = append(reqs, r)
			received += r.BodyBytes
		}
	}
	return reqs, received
}

func TestPushBlobMonolithicAndChunked(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	c := newTestClient(t)
	ctx := context.Background()
	ref := regRef(t, reg, "up/load")

	small, smallDesc := randomBlob(1, 10<<10)
	got, err := c.PushBlob(ctx, ref, smallDesc, registry.ReaderAtSource(bytes.NewReader(small)))
	if err != nil || got != registry.BlobUploaded {
		t.Fatalf("small blob: %v, %v", got, err)
	}
	reqs, received := uploads(reg)
	if len(reqs) != 1 || reqs[0].Method != http.MethodPut || received != int64(len(small)) {
		t.Fatalf("small blob went as %+v (%d bytes), want one PUT of %d", reqs, received, len(small))
	}
	readBack(t, c, ref, smallDesc, small)

	reg.ResetRequests()
	large, largeDesc := randomBlob(2, 1<<20+123)
	var last int64
	got, err = c.PushBlob(ctx, ref, largeDesc, registry.ReaderAtSource(bytes.NewReader(large)),
		registry.ChunkThreshold(64<<10), registry.ChunkSize(256<<10), registry.OnUploadProgress(func(off int64) { last = off }))
	if err != nil || got != registry.BlobUploaded {
		t.Fatalf("large blob: %v, %v", got, err)
	}
	reqs, received = uploads(reg)
	if len(reqs) != 6 || reqs[5].Method != http.MethodPut || reqs[5].BodyBytes != 0 || received != int64(len(large)) {
		t.Fatalf("large blob went as %+v (%d bytes), want 5 PATCHes of %d and an empty PUT", reqs, received, len(large))
	}
	if reqs[1].ContentRange != "262144-524287" || last != int64(len(large)) {
		t.Errorf("second chunk Content-Range %q, progress ended at %d", reqs[1].ContentRange, last)
	}
	readBack(t, c, ref, largeDesc, large)

	reg.ResetRequests()
	if got, err = c.PushBlob(ctx, ref, largeDesc, registry.ReaderAtSource(bytes.NewReader(large))); err != nil || got != registry.BlobExists {
		t.Fatalf("second push: %v, %v", got, err)
	}
	if reqs, _ := uploads(reg); len(reqs) != 0 {
		t.Fatalf("a blob the repository has was uploaded again: %+v", reqs)
	}
}

// slowReader yields step bytes per read, pausing before each: a source (or
// a link) that is slow but keeps moving.
type slowReader struct {
	r     io.Reader
	step  int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), s.step)])
}

// A chunk that takes longer than the small-body deadline and the stall
// timeout to send, but never stops moving, goes through: only a body that
// stops for the stall timeout is a stall.
func TestPushBlobSlowButMoving(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	c := newTestClient(t, registry.WithStallTimeout(300*time.Millisecond), registry.WithSmallBodyDeadline(300*time.Millisecond))
	data, desc := randomBlob(9, 64<<10)
	src := func(_ context.Context, off int64) (io.ReadCloser, error) {
		return io.NopCloser(&slowReader{r: bytes.NewReader(data[off:]), step: 8 << 10, pause: 100 * time.Millisecond}), nil
	}
	began := time.Now()
	if got, err := c.PushBlob(context.Background(), regRef(t, reg, "slow/blob"), desc, src); err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	if d := time.Since(began); d < 600*time.Millisecond {
		t.Fatalf("the upload took %s; the test wants it slower than the timeouts", d)
	}
	if reqs, _ := uploads(reg); len(reqs) != 1 {
		t.Errorf("sent in %d requests, want 1", len(reqs))
	}
}
