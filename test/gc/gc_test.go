package gc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/gc"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/testregistry"
)

func blobs(t *testing.T, st *local.Store) map[digest.Digest]bool {
	t.Helper()
	out := map[digest.Digest]bool{}
	if err := st.Walk(context.Background(), func(d digest.Digest, _ int64) error { out[d] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCollectKeepsWhatNamesNeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t)
	samples, err := testregistry.SeedSamples(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	p := pull.New(client, st)
	for ref := range samples {
		if _, err := p.Pull(ctx, reference.MustParse(ref)); err != nil {
			t.Fatal(err)
		}
	}
	before := blobs(t, st)

	// Nothing is garbage while every name stands.
	rep, err := gc.Collect(ctx, st)
	if err != nil || rep.Blobs != 0 {
		t.Fatalf("collect with every image named: %+v %v", rep, err)
	}
	if after := blobs(t, st); len(after) != len(before) {
		t.Fatalf("blobs %d -> %d", len(before), len(after))
	}

	// Remove the hello image: its blobs go, every other image still loads.
	hello := reference.MustParse(reg.Host + "/" + testregistry.SampleHello)
	if err := st.RemoveImage(ctx, hello.String()); err != nil {
		t.Fatal(err)
	}
	dry, err := gc.Collect(ctx, st, gc.WithDryRun(true))
	if err != nil || dry.Blobs == 0 || len(blobs(t, st)) != len(before) {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	rep, err = gc.Collect(ctx, st)
	if err != nil || rep.Blobs != dry.Blobs || rep.Bytes == 0 {
		t.Fatalf("collect: %+v %v (dry run said %+v)", rep, err, dry)
	}
	for ref := range samples {
		if ref == hello.String() {
			continue
		}
		res, err := p.Pull(ctx, reference.MustParse(ref))
		if err != nil || !res.UpToDate || res.Fetched != 0 {
			t.Fatalf("%s after gc: %+v %v", ref, res, err)
		}
	}

	// Remove everything: nothing is left.
	entries, _ := st.Images(ctx)
	for _, e := range entries {
		if err := st.RemoveImage(ctx, e.Annotations[ocispec.AnnotationRefName]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gc.Collect(ctx, st); err != nil {
		t.Fatal(err)
	}
	if left := blobs(t, st); len(left) != 0 {
		t.Fatalf("%d blobs left with no image", len(left))
	}
}

// A collection waits for a running pull's lease rather than deleting the
// blobs it committed but has not named yet.
func TestCollectWaitsForLeases(t *testing.T) {
	t.Parallel()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("committed, not yet named")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
	release, err := st.Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteBlob(context.Background(), desc, data); err != nil {
		t.Fatal(err)
	}
	// No deadline decides the outcome: a collection that honours the lease
	// cannot return before it is cancelled, however slow the machine. The
	// pause only gives one that ignored the lease time to show it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := gc.Collect(ctx, st)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("collect returned during a lease: %v, want it to wait", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("collect cancelled while waiting for a lease: %v, want context.Canceled", err)
	}
	if !blobs(t, st)[desc.Digest] {
		t.Fatal("the leased blob was removed")
	}
	release()
	rep, err := gc.Collect(context.Background(), st)
	if err != nil || rep.Blobs != 1 {
		t.Fatalf("after release: %+v %v", rep, err)
	}
}
