// Package progress carries the progress events of a pull and renders them
// three ways: in-place terminal lines like `docker pull`, one plain line per
// state change for logs and pipes, and the JSON message stream of the Docker
// Engine API for tools that already parse it.
//
// The pull engine only ever sees a Sink; what the user sees is chosen by the
// CLI, so the engine never needs to know whether it writes to a terminal.
package progress

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// Action is the state a layer (or the image) is in. The values are the exact
// status strings docker prints, so the JSON stream matches the Engine API.
type Action string

const (
	// PullingFrom opens a pull: Event.ID is the tag or digest and Message the
	// familiar repository path ("library/alpine").
	PullingFrom Action = "Pulling from"
	// PullingFSLayer announces a layer that will be fetched.
	PullingFSLayer Action = "Pulling fs layer"
	// Waiting means the layer is queued behind the concurrency limit.
	Waiting Action = "Waiting"
	// Downloading reports Current of Total bytes received.
	Downloading Action = "Downloading"
	// Retrying carries the delay in Message ("in 2 seconds").
	Retrying Action = "Retrying"
	// VerifyingChecksum is shown while the digest of a finished blob is checked.
	VerifyingChecksum Action = "Verifying Checksum"
	// DownloadComplete means the blob is verified and stored.
	DownloadComplete Action = "Download complete"
	// AlreadyExists means the blob was in the store and was not fetched.
	AlreadyExists Action = "Already exists"
	// Extracting reports Current of Total bytes unpacked.
	Extracting Action = "Extracting"
	// PullComplete is the last state of a layer.
	PullComplete Action = "Pull complete"
	// Preparing announces a blob a push will send (or find present).
	Preparing Action = "Preparing"
	// Pushing reports Current of Total bytes sent.
	Pushing Action = "Pushing"
	// Pushed means the registry has the blob now.
	Pushed Action = "Pushed"
	// LayerExists means the registry had the blob already.
	LayerExists Action = "Layer already exists"
	// MountedFrom means the registry linked the blob from the repository
	// in Message, with nothing sent ("Mounted from library/alpine").
	MountedFrom Action = "Mounted from"
	// Status is a free line without ID; Message is printed as is
	// ("Digest: sha256:...", "Status: Downloaded newer image for alpine:latest").
	Status Action = "Status"
	// Failed carries the error in Err.
	Failed Action = "Failed"
)

// Event is one progress report.
type Event struct {
	// ID is the 12-hex short blob id (see ShortID); "" for image-level lines.
	ID      string
	Action  Action
	Current int64 // bytes done, for Downloading and Extracting
	Total   int64 // bytes expected, <= 0 when unknown
	Message string
	Err     error
}

// Sink receives events. Implementations are safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// Renderer is a Sink that draws to a writer. Close flushes the final state
// (throttled updates included) and reports the first write error, if any.
// Events emitted after Close are dropped.
type Renderer interface {
	Sink
	Close() error
}

type discard struct{}

func (discard) Emit(Event) {}

// Discard returns a Sink that drops every event.
func Discard() Sink { return discard{} }

// SinkFunc adapts a function to a Sink. The function must itself be safe for
// concurrent use, as the pull engine emits from many goroutines.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Recorder is a Sink that keeps every event, for tests of code that emits.
// The zero value is ready to use.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Emit appends e.
func (r *Recorder) Emit(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of the events received so far, in arrival order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// ErrInvalidMode is wrapped by New when the mode is not one it knows.
var ErrInvalidMode = errors.New("invalid progress mode")

// defaultWidth is used when the terminal size cannot be read.
const defaultWidth = 80

// New returns the renderer for mode, writing to f:
// "auto" picks TTY when f is a terminal and Plain otherwise; "tty", "plain"
// and "json" force one. The TTY width is read from f (80 if unknown).
func New(mode string, f *os.File) (Renderer, error) {
	if f == nil {
		return nil, fmt.Errorf("progress: mode %q: no output file", mode)
	}
	switch mode {
	case "auto", "":
		if term.IsTerminal(int(f.Fd())) {
			return NewTTY(f, terminalWidth(f)), nil
		}
		return NewPlain(f), nil
	case "tty":
		return NewTTY(f, terminalWidth(f)), nil
	case "plain":
		return NewPlain(f), nil
	case "json":
		return NewJSON(f), nil
	}
	return nil, CheckMode(mode)
}

// CheckMode returns nil for a mode New knows, else an error wrapping
// ErrInvalidMode: for checking a flag before anything is opened.
func CheckMode(mode string) error {
	switch mode {
	case "auto", "", "tty", "plain", "json":
		return nil
	}
	return fmt.Errorf("progress: mode %q (want auto, tty, plain or json): %w", mode, ErrInvalidMode)
}

func terminalWidth(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		return defaultWidth
	}
	return w
}

// ShortID returns the 12-character id docker shows for a digest or id:
// "sha256:abcdef0123456789..." becomes "abcdef012345". Shorter input is
// returned without its algorithm prefix.
func ShortID(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 {
		d = d[i+1:]
	}
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// statusText is the status docker prints for e, without ID or counts:
// "Pulling from library/alpine", "Retrying in 2 seconds", "Digest: ...".
func statusText(e Event) string {
	switch e.Action {
	case Status:
		return e.Message
	case Failed:
		return "Failed: " + errorText(e)
	}
	if e.Message == "" {
		return string(e.Action)
	}
	if e.Action == "" {
		return e.Message
	}
	return string(e.Action) + " " + e.Message
}

// errorText is the message of a Failed event.
func errorText(e Event) string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Message != "":
		return e.Message
	}
	return "unknown error"
}

// isTransfer reports whether a renders with byte counts and is throttled.
func isTransfer(a Action) bool { return a == Downloading || a == Extracting || a == Pushing }

// isMoving reports whether a's byte counts are worth a rate.
func isMoving(a Action) bool { return a == Downloading || a == Pushing }

// output serializes writes of whole lines and remembers the first error, so
// one failed write (a closed pipe) does not turn into an error per event.
type output struct {
	w   io.Writer
	err error
}

func (o *output) write(b []byte) {
	if o.err != nil || len(b) == 0 {
		return
	}
	if _, err := o.w.Write(b); err != nil {
		o.err = fmt.Errorf("progress: write output: %w", err)
	}
}
