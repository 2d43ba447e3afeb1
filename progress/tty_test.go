package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// render feeds out to a screen of width columns and returns its lines.
func render(t *testing.T, width int, out string) []string {
	t.Helper()
	s := &screen{width: width}
	if err := s.write(out); err != nil {
		t.Fatalf("terminal emulation: %v\noutput: %q", err, out)
	}
	return s.text()
}

func checkScreen(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s screen:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTTYPull(t *testing.T) {
	t.Parallel()
	const width = 80
	clock := newFakeClock()
	var buf bytes.Buffer
	r := newTTY(&buf, width, clock.now)

	r.Emit(Event{ID: "latest", Action: PullingFrom, Message: "library/alpine"})
	for _, id := range []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"} {
		r.Emit(Event{ID: id, Action: PullingFSLayer})
	}
	r.Emit(Event{ID: "bbbbbbbbbbbb", Action: AlreadyExists})
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 0, Total: 3_397_879})
	clock.advance(time.Second)
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 1_000_000, Total: 3_397_879})

	// 22 bar cells at 80 columns; 1MB of 3.398MB fills 6; 1MB in 1s.
	downloading := "aaaaaaaaaaaa: Downloading [======>                ]      1MB/3.398MB  1MB/s"
	checkScreen(t, "downloading", render(t, width, buf.String()), []string{
		"latest: Pulling from library/alpine",
		downloading,
		"bbbbbbbbbbbb: Already exists",
		"cccccccccccc: Pulling fs layer",
	})

	// Within the interval: not drawn yet.
	clock.advance(10 * time.Millisecond)
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 1_100_000, Total: 3_397_879})
	if got := render(t, width, buf.String())[1]; got != downloading {
		t.Errorf("throttled update drawn at once: %q", got)
	}
	// Another layer's event past the interval draws the pending count too.
	clock.advance(ttyInterval)
	r.Emit(Event{ID: "cccccccccccc", Action: Waiting})
	if got := render(t, width, buf.String())[1]; !strings.Contains(got, "1.1MB/3.398MB") {
		t.Errorf("pending count not drawn with the next event: %q", got)
	}

	for _, a := range []Action{VerifyingChecksum, DownloadComplete, PullComplete} {
		r.Emit(Event{ID: "aaaaaaaaaaaa", Action: a}) // each state change at once, same instant
	}
	r.Emit(Event{ID: "cccccccccccc", Action: Failed, Err: errors.New("connection reset by peer")})
	r.Emit(Event{Action: Status, Message: "Digest: sha256:21a3deaa0d32a8057914f36584b5288d2e5ecc984380bc0118285c70fa8c9300"})
	r.Emit(Event{Action: Status, Message: "Status: Downloaded newer image for alpine:latest"})
	if got := render(t, width, buf.String())[1]; got != "aaaaaaaaaaaa: Pull complete" {
		t.Errorf("state changes within the interval not drawn at once: %q", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	out := buf.String()
	for _, seq := range []string{"\x1b[3A", "\x1b[3B", "\x1b[2K"} {
		if !strings.Contains(out, seq) {
			t.Errorf("output lacks %q: %q", seq, out)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("output does not end with a newline: %q", out)
	}
	checkScreen(t, "final", render(t, width, out), []string{
		"latest: Pulling from library/alpine",
		"aaaaaaaaaaaa: Pull complete",
		"bbbbbbbbbbbb: Already exists",
		"cccccccccccc: Failed: connection reset by peer",
		"Digest: sha256:21a3deaa0d32a8057914f36584b5288d2e5ecc984380bc0118285c70fa8c9300",
		"Status: Downloaded newer image for alpine:latest",
	})
}

func TestTTYCloseDrawsThrottledState(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var buf bytes.Buffer
	r := newTTY(&buf, 120, clock.now)
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 0, Total: 100})
	clock.advance(time.Millisecond)
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 50, Total: 100})
	before := render(t, 120, buf.String())
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// 120 columns leave room for docker's full 50-cell bar.
	checkScreen(t, "before close", before, []string{
		"aaaaaaaaaaaa: Downloading [>" + strings.Repeat(" ", 50) + "]       0B/100B",
	})
	checkScreen(t, "after close", render(t, 120, buf.String()), []string{
		"aaaaaaaaaaaa: Downloading [" + strings.Repeat("=", 25) + ">" + strings.Repeat(" ", 25) + "]      50B/100B",
	})
}

func TestTTYLinesUpdateAboveStatusAndNewBlock(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewTTY(&buf, 80)
	r.Emit(Event{ID: "latest", Action: PullingFrom, Message: "library/alpine"})
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: PullingFSLayer})
	r.Emit(Event{Action: Status, Message: "a note below the block"})
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: PullComplete})
	// A second pull starts a new block: the same layer gets a new line.
	r.Emit(Event{ID: "3.19", Action: PullingFrom, Message: "library/alpine"})
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: AlreadyExists})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	checkScreen(t, "final", render(t, 80, buf.String()), []string{
		"latest: Pulling from library/alpine",
		"aaaaaaaaaaaa: Pull complete",
		"a note below the block",
		"3.19: Pulling from library/alpine",
		"aaaaaaaaaaaa: Already exists",
	})
}

func TestTTYFitsWidth(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("very long registry error ", 10)
	for _, width := range []int{0, 1, 10, 40, 79, 80, 111, 300} {
		var buf bytes.Buffer
		r := NewTTY(&buf, width)
		r.Emit(Event{ID: "latest", Action: PullingFrom, Message: "library/" + strings.Repeat("x", 200)})
		r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 999_999_999, Total: 999_999_999_999})
		r.Emit(Event{ID: "bbbbbbbbbbbb", Action: Extracting, Current: 5, Total: 0})
		r.Emit(Event{ID: "cccccccccccc", Action: Failed, Err: errors.New("é" + long)})
		r.Emit(Event{Action: Status, Message: long})
		r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Failed, Err: errors.New(long)})
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		emulated := width
		if emulated <= 0 {
			emulated = defaultWidth
		}
		lines := render(t, emulated, buf.String())
		if len(lines) != 5 {
			t.Errorf("width %d: %d lines, want 5:\n%s", width, len(lines), strings.Join(lines, "\n"))
		}
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > max(emulated-1, 1) {
				t.Errorf("width %d: line of %d columns: %q", width, n, l)
			}
		}
	}
}

func TestTTYEscapes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewTTY(&buf, 80)
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: PullingFSLayer})
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Failed, Err: errors.New("bad\x1b[2J\nthing")})
	r.Emit(Event{Action: Status, Message: "\x1b]0;title\x07"})
	_ = r.Close()
	// The emulator rejects any escape the renderer did not mean to send.
	checkScreen(t, "final", render(t, 80, buf.String()), []string{
		`aaaaaaaaaaaa: Failed: bad\x1b[2J\nthing`,
		`\x1b]0;title\x07`,
	})
}

func TestRateMeter(t *testing.T) {
	t.Parallel()
	start := time.Unix(0, 0)
	var m rateMeter
	if got := m.perSecond(); got != 0 {
		t.Errorf("empty meter: %v", got)
	}
	m.add(start, 0)
	m.add(start.Add(100*time.Millisecond), 1000)
	if got := m.perSecond(); got != 0 {
		t.Errorf("rate over 100ms = %v, want 0 (too short to tell)", got)
	}
	// 1MB/s for 10s, sampled every 10ms: the window keeps the memory small.
	for i := int64(1); i <= 1000; i++ {
		m.add(start.Add(time.Duration(i)*10*time.Millisecond), i*10_000)
	}
	if got := m.perSecond(); got < 0.99e6 || got > 1.01e6 {
		t.Errorf("steady rate = %v, want 1e6", got)
	}
	if len(m.samples) > 40 {
		t.Errorf("meter keeps %d samples", len(m.samples))
	}
	// A stall shows within the window: 3s more, nothing received.
	end := start.Add(10 * time.Second)
	for i := 1; i <= 30; i++ {
		m.add(end.Add(time.Duration(i)*100*time.Millisecond), 10_000_000)
	}
	if got := m.perSecond(); got > 0.1e6 {
		t.Errorf("rate after a 3s stall = %v, want near 0", got)
	}
	// A restart (count going down) starts over.
	m.add(end.Add(4*time.Second), 5)
	if len(m.samples) != 1 || m.perSecond() != 0 {
		t.Errorf("after restart: %d samples, rate %v", len(m.samples), m.perSecond())
	}
}

// FuzzTTY checks that whatever text a registry sends, the TTY output only
// holds the renderer's own escapes and never wraps a line.
func FuzzTTY(f *testing.F) {
	f.Add("aaaaaaaaaaaa", "in 2 seconds", "boom", 80, int64(5), int64(10))
	f.Add("\x1b[2J", "\x9b31m", "a\nb\rc", 1, int64(-1), int64(0))
	f.Add("日本語", strings.Repeat("é", 100), "", 20, int64(1<<62), int64(1))
	f.Fuzz(func(t *testing.T, id, msg, errText string, width int, current, total int64) {
		width = width%300 + 1
		if width < 1 {
			width += 300
		}
		var buf bytes.Buffer
		r := NewTTY(&buf, width)
		r.Emit(Event{ID: id, Action: PullingFrom, Message: msg})
		r.Emit(Event{ID: id + "x", Action: PullingFSLayer, Message: msg})
		r.Emit(Event{ID: id + "x", Action: Downloading, Current: current, Total: total})
		r.Emit(Event{ID: id + "x", Action: Retrying, Message: msg})
		r.Emit(Event{Action: Status, Message: msg})
		r.Emit(Event{ID: id + "x", Action: Failed, Err: errors.New(errText)})
		r.Emit(Event{ID: id + "y", Action: Extracting, Current: total, Total: current})
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		s := &screen{width: width}
		if err := s.write(buf.String()); err != nil {
			t.Fatalf("terminal emulation: %v\noutput: %q", err, buf.String())
		}
		// Pulling from, layer x, the status, layer y: whatever the text.
		if n := len(s.text()); n > 4 {
			t.Errorf("%d lines, want at most 4:\n%s", n, strings.Join(s.text(), "\n"))
		}
	})
}
