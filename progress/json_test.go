package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// dockerJSONMessage mirrors the fields of docker's jsonmessage.JSONMessage
// that a pull stream uses, to check the output parses the way docker's CLI
// would read it.
type dockerJSONMessage struct {
	Status         string `json:"status"`
	ID             string `json:"id"`
	ProgressDetail *struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Progress    string `json:"progress"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Error string `json:"error"`
}

const layer = "59bf1c3509f3"

func TestJSONGolden(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var buf bytes.Buffer
	r := newJSON(&buf, clock.now)
	step := func(e Event) { r.Emit(e); clock.advance(time.Second) }

	step(Event{ID: "latest", Action: PullingFrom, Message: "library/alpine"})
	step(Event{ID: layer, Action: PullingFSLayer})
	step(Event{ID: layer, Action: Waiting})
	step(Event{ID: layer, Action: Downloading, Current: 32768, Total: 3397879})
	step(Event{ID: layer, Action: Retrying, Message: "in 2 seconds"})
	step(Event{ID: layer, Action: Downloading, Current: 1234, Total: 0})
	step(Event{ID: layer, Action: VerifyingChecksum})
	step(Event{ID: layer, Action: DownloadComplete})
	step(Event{ID: layer, Action: Extracting, Current: 3397879, Total: 3397879})
	step(Event{ID: layer, Action: PullComplete})
	step(Event{ID: "a1b2c3d4e5f6", Action: AlreadyExists})
	step(Event{Action: Status, Message: "Digest: sha256:21a3deaa0d32a8057914f36584b5288d2e5ecc984380bc0118285c70fa8c9300"})
	step(Event{Action: Status, Message: "Status: Downloaded newer image for alpine:latest"})
	step(Event{Action: Failed, Err: errors.New(`manifest unknown: "alpine:nope"`)})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	want := []string{
		`{"status":"Pulling from library/alpine","id":"latest"}`,
		`{"status":"Pulling fs layer","progressDetail":{},"id":"59bf1c3509f3"}`,
		`{"status":"Waiting","progressDetail":{},"id":"59bf1c3509f3"}`,
		// A line captured from a real `docker pull alpine` stream.
		`{"status":"Downloading","progressDetail":{"current":32768,"total":3397879},"progress":"[\u003e                                                  ]  32.77kB/3.398MB","id":"59bf1c3509f3"}`,
		`{"status":"Retrying in 2 seconds","progressDetail":{},"id":"59bf1c3509f3"}`,
		`{"status":"Downloading","progressDetail":{"current":1234},"progress":" 1.234kB","id":"59bf1c3509f3"}`,
		`{"status":"Verifying Checksum","progressDetail":{},"id":"59bf1c3509f3"}`,
		`{"status":"Download complete","progressDetail":{},"id":"59bf1c3509f3"}`,
		`{"status":"Extracting","progressDetail":{"current":3397879,"total":3397879},"progress":"[==================================================\u003e]  3.398MB/3.398MB","id":"59bf1c3509f3"}`,
		`{"status":"Pull complete","progressDetail":{},"id":"59bf1c3509f3"}`,
		`{"status":"Already exists","progressDetail":{},"id":"a1b2c3d4e5f6"}`,
		`{"status":"Digest: sha256:21a3deaa0d32a8057914f36584b5288d2e5ecc984380bc0118285c70fa8c9300"}`,
		`{"status":"Status: Downloaded newer image for alpine:latest"}`,
		`{"errorDetail":{"message":"manifest unknown: \"alpine:nope\""},"error":"manifest unknown: \"alpine:nope\""}`,
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}

	// Parsed as docker's client would.
	var msgs []dockerJSONMessage
	for _, line := range got {
		var m dockerJSONMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	if m := msgs[3]; m.ProgressDetail == nil || m.ProgressDetail.Current != 32768 || m.ProgressDetail.Total != 3397879 || m.ID != layer {
		t.Errorf("downloading message parsed as %+v", m)
	}
	if m := msgs[0]; m.ProgressDetail != nil || m.ID != "latest" || m.Status != "Pulling from library/alpine" {
		t.Errorf("pulling-from message parsed as %+v", m)
	}
	if m := msgs[len(msgs)-1]; m.ErrorDetail == nil || m.ErrorDetail.Message != m.Error || m.Status != "" {
		t.Errorf("error message parsed as %+v", m)
	}
}

// downloads returns the Current of every Downloading message in out.
func downloads(t *testing.T, out string) []int64 {
	t.Helper()
	var got []int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m dockerJSONMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if m.Status == "Downloading" {
			got = append(got, m.ProgressDetail.Current)
		}
	}
	return got
}

func TestJSONThrottle(t *testing.T) {
	t.Parallel()
	const total = 1000
	for _, tc := range []struct {
		name string
		// after the chunks 100..500, 10ms apart: what ends the stream
		finish func(r *jsonRenderer, clock *fakeClock)
		want   []int64
	}{
		{
			name: "state change flushes the throttled count first",
			finish: func(r *jsonRenderer, _ *fakeClock) {
				r.Emit(Event{ID: layer, Action: Retrying, Message: "in 1 second"})
			},
			want: []int64{100, 500},
		},
		{
			name:   "close flushes the throttled count",
			finish: func(*jsonRenderer, *fakeClock) {},
			want:   []int64{100, 500},
		},
		{
			name: "completion is sent at once and supersedes the throttled count",
			finish: func(r *jsonRenderer, _ *fakeClock) {
				r.Emit(Event{ID: layer, Action: Downloading, Current: total, Total: total})
			},
			want: []int64{100, total},
		},
		{
			name: "a count after the interval is sent",
			finish: func(r *jsonRenderer, clock *fakeClock) {
				clock.advance(jsonInterval)
				r.Emit(Event{ID: layer, Action: Downloading, Current: 600, Total: total})
			},
			want: []int64{100, 600},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			var buf bytes.Buffer
			r := newJSON(&buf, clock.now)
			for cur := int64(100); cur <= 500; cur += 100 {
				r.Emit(Event{ID: layer, Action: Downloading, Current: cur, Total: total})
				clock.advance(10 * time.Millisecond)
			}
			// Another layer is throttled on its own.
			r.Emit(Event{ID: "otherlayer00", Action: Downloading, Current: 1, Total: 2})
			tc.finish(r, clock)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			got := downloads(t, buf.String())
			// The other layer's message (1) comes between the first chunk and
			// whatever finish produced.
			want := append([]int64{tc.want[0], 1}, tc.want[1:]...)
			if !equalInts(got, want) {
				t.Errorf("Downloading messages %v, want %v\n%s", got, want, buf.String())
			}
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestJSONDropsAfterClose(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewJSON(&buf)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r.Emit(Event{ID: layer, Action: PullComplete})
	if buf.Len() != 0 {
		t.Errorf("output after Close: %q", buf.String())
	}
}

// Docker's CLI prints a stream's status and error as it decodes them, so
// escaping a registry's text must survive the JSON encoding, which itself
// passes C1 controls (U+009B, a one-rune CSI) and DEL through raw.
func TestJSONEscapesText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	r := NewJSON(&buf)
	r.Emit(Event{Action: Status, Message: "Status: \x1b]0;pwned\x07"})
	r.Emit(Event{ID: "\u009b2J", Action: PullingFSLayer})
	r.Emit(Event{ID: layer, Action: Failed, Err: errors.New("denied\x1b[2J\u009b31m\x7f\nnext")})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(buf.String(), "\u009b\x7f") {
		t.Errorf("raw control in the stream: %q", buf.String())
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m dockerJSONMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, m.Status+"|"+m.ID+"|"+m.Error)
	}
	want := []string{
		`Status: \x1b]0;pwned\x07||`,
		`Pulling fs layer|\u009b2J|`,
		`|` + layer + `|denied\x1b[2J\u009b31m\x7f\nnext`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("decoded stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
