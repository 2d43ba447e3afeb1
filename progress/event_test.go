package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		mode    string
		want    string // renderer type
		wantErr error
	}{
		{"auto", "*progress.plainRenderer", nil}, // a regular file is not a terminal
		{"", "*progress.plainRenderer", nil},
		{"plain", "*progress.plainRenderer", nil},
		{"tty", "*progress.ttyRenderer", nil},
		{"json", "*progress.jsonRenderer", nil},
		{"JSON", "", ErrInvalidMode},
		{"fancy", "", ErrInvalidMode},
	} {
		r, err := New(tc.mode, f)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("New(%q) error = %v, want %v", tc.mode, err, tc.wantErr)
			continue
		}
		if got := fmt.Sprintf("%T", r); tc.wantErr == nil && got != tc.want {
			t.Errorf("New(%q) = %s, want %s", tc.mode, got, tc.want)
		}
	}
	if tty, err := New("tty", f); err != nil || tty.(*ttyRenderer).cols != defaultWidth-1 {
		t.Errorf("tty on a file: %v, want the default width", err)
	}
	if _, err := New("plain", nil); err == nil {
		t.Error("New with a nil file succeeded")
	}
}

func TestSinks(t *testing.T) {
	t.Parallel()
	Discard().Emit(Event{Action: Status}) // must not panic

	var rec Recorder
	var viaFunc []Event
	var sinks = []Sink{&rec, SinkFunc(func(e Event) { viaFunc = append(viaFunc, e) })}
	events := []Event{{ID: "a", Action: Waiting}, {Action: Status, Message: "x"}}
	for _, s := range sinks {
		for _, e := range events {
			s.Emit(e)
		}
	}
	for name, got := range map[string][]Event{"Recorder": rec.Events(), "SinkFunc": viaFunc} {
		if !slices.Equal(got, events) {
			t.Errorf("%s got %v, want %v", name, got, events)
		}
	}
}

// TestConcurrentEmit runs many layers from many goroutines through each
// renderer (meaningful under -race) and checks no line was torn.
func TestConcurrentEmit(t *testing.T) {
	t.Parallel()
	const workers, chunks = 8, 200
	ids := make([]string, workers)
	for i := range ids {
		ids[i] = fmt.Sprintf("%012x", 0xabc000+i)
	}
	pull := func(r Renderer) {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				r.Emit(Event{ID: id, Action: PullingFSLayer})
				for c := int64(1); c <= chunks; c++ {
					r.Emit(Event{ID: id, Action: Downloading, Current: c * 1000, Total: chunks * 1000})
				}
				r.Emit(Event{ID: id, Action: DownloadComplete})
				r.Emit(Event{ID: id, Action: PullComplete})
			})
		}
		wg.Wait()
		r.Emit(Event{Action: Status, Message: "Status: done"})
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		var buf lockedBuffer
		pull(NewJSON(&buf))
		complete := map[string]bool{}
		last := map[string]int64{}
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m dockerJSONMessage
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("torn line %q: %v", line, err)
			}
			switch m.Status {
			case "Downloading":
				last[m.ID] = m.ProgressDetail.Current
			case "Pull complete":
				complete[m.ID] = true
			}
		}
		for _, id := range ids {
			if !complete[id] || last[id] != chunks*1000 {
				t.Errorf("%s: complete %v, last count %d", id, complete[id], last[id])
			}
		}
	})
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		var buf lockedBuffer
		pull(NewPlain(&buf))
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		// Per layer: fs layer, Downloading, Download complete, Pull complete.
		if len(lines) != workers*4+1 {
			t.Errorf("%d lines, want %d:\n%s", len(lines), workers*4+1, buf.String())
		}
		for _, l := range lines[:len(lines)-1] {
			id, _, ok := strings.Cut(l, ": ")
			if !ok || !slices.Contains(ids, id) {
				t.Errorf("torn line %q", l)
			}
		}
	})
	t.Run("tty", func(t *testing.T) {
		t.Parallel()
		var buf lockedBuffer
		pull(NewTTY(&buf, 100))
		got := render(t, 100, buf.String())
		if len(got) != workers+1 || got[workers] != "Status: done" {
			t.Fatalf("screen:\n%s", strings.Join(got, "\n"))
		}
		for _, l := range got[:workers] {
			id, state, _ := strings.Cut(l, ": ")
			if !slices.Contains(ids, id) || state != "Pull complete" {
				t.Errorf("line %q, want <id>: Pull complete", l)
			}
		}
	})
}
