package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/progress"
)

func TestOnceRunsOneTransferPerBlob(t *testing.T) {
	t.Parallel()
	s := New(4)
	d := digest.FromString("blob")
	var runs, waits atomic.Int32
	started := make(chan struct{})
	finish := make(chan struct{})
	var wg sync.WaitGroup
	var shared atomic.Int32
	for i := range 5 {
		wg.Go(func() {
			if i > 0 {
				<-started
			}
			sh, err := s.Once(context.Background(), d, "pull", func() { waits.Add(1) }, func(context.Context) error {
				runs.Add(1)
				close(started)
				<-finish
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			if sh {
				shared.Add(1)
			}
		})
	}
	<-started
	for waits.Load() < 4 {
		time.Sleep(time.Millisecond)
	}
	close(finish)
	wg.Wait()
	if runs.Load() != 1 || shared.Load() != 4 {
		t.Fatalf("%d runs, %d shared outcomes; want 1 and 4", runs.Load(), shared.Load())
	}
	// Another direction is another transfer.
	if sh, err := s.Once(context.Background(), d, "push", nil, func(context.Context) error { return nil }); sh || err != nil {
		t.Fatalf("push of the same blob: shared %v, %v", sh, err)
	}
}

func TestOnceSharesFailureButNotCancellation(t *testing.T) {
	t.Parallel()
	s := New(1)
	d := digest.FromString("blob")
	for _, tc := range []struct {
		first    error
		wantRuns int32
	}{
		{errors.New("registry said no"), 1},
		{context.Canceled, 2},
	} {
		var runs atomic.Int32
		started, finish := make(chan struct{}), make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := s.Once(context.Background(), d, "pull", nil, func(context.Context) error {
				runs.Add(1)
				close(started)
				<-finish
				return tc.first
			})
			done <- err
		}()
		<-started
		waited := make(chan struct{})
		go func() {
			s.Once(context.Background(), d, "pull", func() { close(waited) }, func(context.Context) error {
				runs.Add(1)
				return nil
			})
			done <- nil
		}()
		<-waited
		close(finish)
		<-done
		<-done
		if runs.Load() != tc.wantRuns {
			t.Errorf("first transfer ended with %v: %d runs, want %d", tc.first, runs.Load(), tc.wantRuns)
		}
	}
}

func TestSlotsBoundConcurrency(t *testing.T) {
	t.Parallel()
	s := New(2)
	var now, peak atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			release, err := s.Slot(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			n := now.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			now.Add(-1)
			release()
		})
	}
	wg.Wait()
	if peak.Load() > 2 {
		t.Fatalf("%d transfers held slots at once, want at most 2", peak.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	r1, _ := s.Slot(ctx)
	r2, _ := s.Slot(ctx)
	cancel()
	if _, err := s.Slot(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Slot with every slot taken and ctx cancelled = %v", err)
	}
	r1()
	r2()
}

func TestMeterReportsProgress(t *testing.T) {
	t.Parallel()
	rec := &progress.Recorder{}
	total := int64(3 * progressStep)
	m := NewMeter(rec.Emit, progress.Downloading, "abc", 0, total)
	if _, err := io.CopyBuffer(m.Writer(io.Discard), struct{ io.Reader }{bytes.NewReader(make([]byte, total))}, make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	m.Flush()
	evs := rec.Events()
	if len(evs) < 3 || len(evs) > 8 {
		t.Fatalf("%d events for %d bytes", len(evs), total)
	}
	last := evs[len(evs)-1]
	if last.Current != total || last.Total != total || last.ID != "abc" || last.Action != progress.Downloading {
		t.Fatalf("last event %+v", last)
	}
}
