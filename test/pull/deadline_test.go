package pull_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/test/internal/faultproxy"
)

const pullDeadline = 400 * time.Millisecond

// A registry trickling the image config one byte at a time, never long
// enough to stall, fails the pull after the small-body deadline once per
// request of the config's budget, instead of holding it for the whole
// trickle.
func TestTrickledConfigHitsDeadline(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, nil, registry.WithRetry(2, time.Millisecond), registry.WithSmallBodyDeadline(pullDeadline))
	cfg := e.img.ConfigDesc.Digest
	var gets atomic.Int32
	// 1 byte per 50ms: the config (about 1 kB) would take close to a minute.
	e.proxy.Inject(blobGetsOf(cfg, &gets), forBlob(cfg, faultproxy.Trickle(faultproxy.Blob, 0, 1, 50*time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := e.puller.Pull(ctx, e.ref)
	if ctx.Err() != nil {
		t.Fatalf("still pulling after 30s: %v", err)
	}
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("got %v, want unavailable", err)
	}
	if n := gets.Load(); n != 2 {
		t.Errorf("%d GETs of the config, want the budget's 2", n)
	}
	if imgs, err := e.store.Images(context.Background()); err != nil || len(imgs) != 0 {
		t.Fatalf("a failed pull recorded %v", imgs)
	}
}

// Layers keep the stall-only rule: a layer that takes longer than the
// small-body deadline while it keeps moving is downloaded, not cut off.
func TestSlowLayerOutlastsDeadline(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, nil, registry.WithRetry(3, time.Millisecond), registry.WithSmallBodyDeadline(pullDeadline))
	layer := e.img.Layers[0].Digest
	var gets atomic.Int32
	// 256 KiB in 16 KiB steps every 60ms: about a second, 2.5x the deadline.
	e.proxy.Inject(blobGetsOf(layer, &gets), forBlob(layer, faultproxy.Trickle(faultproxy.Blob, 1, 16<<10, 60*time.Millisecond)))
	began := time.Now()
	if _, err := e.puller.Pull(context.Background(), e.ref); err != nil {
		t.Fatalf("pull with a slow layer: %v", err)
	}
	if d := time.Since(began); d < pullDeadline {
		t.Fatalf("the pull took %s, not longer than the deadline: the test proves nothing", d)
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("%d GETs of the slow layer, want 1 (never cut off and resumed)", n)
	}
	verifyStore(t, e.store)
}
