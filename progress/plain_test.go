package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPlainSequence(t *testing.T) {
	t.Parallel()
	const big = 40_000_000
	var buf bytes.Buffer
	r := NewPlain(&buf)
	events := []Event{
		{ID: "latest", Action: PullingFrom, Message: "library/alpine"},
		{ID: "aaaaaaaaaaaa", Action: PullingFSLayer},
		{ID: "bbbbbbbbbbbb", Action: PullingFSLayer},
		{ID: "bbbbbbbbbbbb", Action: AlreadyExists},
		{ID: "aaaaaaaaaaaa", Action: Waiting},
		{ID: "aaaaaaaaaaaa", Action: Waiting}, // no change: no line
		{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 0, Total: 3_397_879},
		{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 1_000_000, Total: 3_397_879}, // small: no milestones
		{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 3_000_000, Total: 3_397_879},
		{ID: "aaaaaaaaaaaa", Action: Retrying, Message: "in 1 second"},
		{ID: "aaaaaaaaaaaa", Action: Retrying, Message: "in 1 second"}, // every retry is shown
		{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 3_000_000, Total: 3_397_879},
		{ID: "aaaaaaaaaaaa", Action: Downloading, Current: 3_397_879, Total: 3_397_879},
		{ID: "aaaaaaaaaaaa", Action: VerifyingChecksum},
		{ID: "aaaaaaaaaaaa", Action: DownloadComplete},
		{ID: "cccccccccccc", Action: Downloading, Current: 1, Total: big},
		{ID: "cccccccccccc", Action: Downloading, Current: 5_000_000, Total: big},
		{ID: "cccccccccccc", Action: Downloading, Current: 10_000_000, Total: big}, // 25%
		{ID: "cccccccccccc", Action: Downloading, Current: 11_000_000, Total: big},
		{ID: "cccccccccccc", Action: Downloading, Current: 35_000_000, Total: big}, // 75%, skipping 50%
		{ID: "cccccccccccc", Action: Downloading, Current: big, Total: big},        // 100%: the next state says it
		{ID: "dddddddddddd", Action: Downloading, Current: 10, Total: 0},           // unknown size
		{ID: "dddddddddddd", Action: Failed, Err: errors.New("unexpected EOF")},
		{ID: "aaaaaaaaaaaa", Action: Extracting, Current: 1, Total: 3_397_879},
		{ID: "aaaaaaaaaaaa", Action: PullComplete},
		{Action: Status, Message: "Digest: sha256:1234"},
		{Action: Status, Message: "Status: Downloaded newer image for alpine:latest"},
	}
	for _, e := range events {
		r.Emit(e)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"latest: Pulling from library/alpine",
		"aaaaaaaaaaaa: Pulling fs layer",
		"bbbbbbbbbbbb: Pulling fs layer",
		"bbbbbbbbbbbb: Already exists",
		"aaaaaaaaaaaa: Waiting",
		"aaaaaaaaaaaa: Downloading 3.398MB",
		"aaaaaaaaaaaa: Retrying in 1 second",
		"aaaaaaaaaaaa: Retrying in 1 second",
		"aaaaaaaaaaaa: Downloading 3.398MB",
		"aaaaaaaaaaaa: Verifying Checksum",
		"aaaaaaaaaaaa: Download complete",
		"cccccccccccc: Downloading 40MB",
		"cccccccccccc: Downloading 10MB/40MB (25%)",
		"cccccccccccc: Downloading 35MB/40MB (75%)",
		"dddddddddddd: Downloading",
		"dddddddddddd: Failed: unexpected EOF",
		"aaaaaaaaaaaa: Extracting 3.398MB",
		"aaaaaaaaaaaa: Pull complete",
		"Digest: sha256:1234",
		"Status: Downloaded newer image for alpine:latest",
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plain output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPlainEscapes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewPlain(&buf)
	r.Emit(Event{ID: "aaaaaaaaaaaa", Action: Failed, Err: errors.New("bad\x1b[2J\r\nthing\u009b")})
	r.Emit(Event{Action: Status, Message: "ok"})
	_ = r.Close()
	want := `aaaaaaaaaaaa: Failed: bad\x1b[2J\r\nthing\u009b` + "\nok\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("broken pipe")
}

func TestWriteErrorReportedOnceAtClose(t *testing.T) {
	t.Parallel()
	for name, mk := range map[string]func(w *failingWriter) Renderer{
		"plain": func(w *failingWriter) Renderer { return NewPlain(w) },
		"json":  func(w *failingWriter) Renderer { return NewJSON(w) },
		"tty":   func(w *failingWriter) Renderer { return NewTTY(w, 80) },
	} {
		w := &failingWriter{}
		r := mk(w)
		r.Emit(Event{ID: "aaaaaaaaaaaa", Action: PullingFSLayer})
		r.Emit(Event{ID: "aaaaaaaaaaaa", Action: PullComplete})
		err := r.Close()
		if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("%s: Close() = %v, want the write error", name, err)
		}
		if w.n != 1 {
			t.Errorf("%s: %d writes after the first failure, want none", name, w.n-1)
		}
	}
}
