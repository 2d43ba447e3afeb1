package progress

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/imagec/imagec/internal/termtext"
)

// jsonInterval bounds how often transfer updates of one layer are sent;
// a pull of a large layer would otherwise send one message per read.
const jsonInterval = 100 * time.Millisecond

// jsonMessage mirrors the fields of docker's jsonmessage.JSONMessage that a
// pull uses, in the order docker declares (and therefore emits) them.
type jsonMessage struct {
	Status         string        `json:"status,omitempty"`
	ProgressDetail *jsonProgress `json:"progressDetail,omitempty"`
	Progress       string        `json:"progress,omitempty"`
	ID             string        `json:"id,omitempty"`
	ErrorDetail    *jsonError    `json:"errorDetail,omitempty"`
	Error          string        `json:"error,omitempty"`
}

type jsonProgress struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

type jsonError struct {
	Message string `json:"message,omitempty"`
}

// jsonLayer is the throttling state of one ID.
type jsonLayer struct {
	last    Action
	sent    time.Time
	pending *Event // newest throttled transfer update, not yet sent
}

type jsonRenderer struct {
	mu     sync.Mutex
	out    output
	now    func() time.Time
	layers map[string]*jsonLayer
	order  []string // IDs in first-seen order, so Close flushes deterministically
	closed bool
}

// NewJSON returns a Renderer that writes the JSON message stream of the
// Docker Engine API (POST /images/create), one object per line. Transfer
// updates are sent at most every 100ms per layer; a skipped update is sent
// before the layer's next state (or at Close), so the last count always
// arrives.
func NewJSON(w io.Writer) Renderer { return newJSON(w, time.Now) }

func newJSON(w io.Writer, now func() time.Time) *jsonRenderer {
	return &jsonRenderer{out: output{w: w}, now: now, layers: map[string]*jsonLayer{}}
}

func (r *jsonRenderer) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if e.ID == "" {
		r.write(e)
		return
	}
	l := r.layers[e.ID]
	if l == nil {
		l = &jsonLayer{}
		r.layers[e.ID] = l
		r.order = append(r.order, e.ID)
	}
	now := r.now()
	if isTransfer(e.Action) && l.last == e.Action && !done(e) && now.Sub(l.sent) < jsonInterval {
		l.pending = &e
		return
	}
	// A newer count supersedes a throttled one; a state change must not
	// overtake the count it follows.
	if l.pending != nil && l.pending.Action != e.Action {
		r.write(*l.pending)
	}
	l.pending = nil
	r.write(e)
	l.last, l.sent = e.Action, now
}

func done(e Event) bool { return e.Total > 0 && e.Current >= e.Total }

func (r *jsonRenderer) write(e Event) {
	b, err := json.Marshal(toJSONMessage(e))
	if err != nil { // cannot happen: only strings and integers
		return
	}
	r.out.write(append(b, '\n'))
}

// toJSONMessage escapes the text fields: consumers of the stream (docker's
// own renderer among them) print them to a terminal as they decode them, and
// encoding/json would pass C1 controls and bidi overrides through raw.
func toJSONMessage(e Event) jsonMessage {
	id := termtext.Escape(e.ID)
	switch e.Action {
	case Failed:
		msg := termtext.Escape(errorText(e))
		return jsonMessage{ID: id, ErrorDetail: &jsonError{Message: msg}, Error: msg}
	case PullingFrom, Status:
		// docker sends these through progress.Message: no progressDetail.
		return jsonMessage{Status: termtext.Escape(statusText(e)), ID: id}
	}
	m := jsonMessage{Status: termtext.Escape(statusText(e)), ID: id}
	if id != "" {
		// Per-layer states go through progress.Update in docker, which
		// always attaches a (possibly empty) progressDetail.
		m.ProgressDetail = &jsonProgress{}
	}
	if isTransfer(e.Action) {
		m.ProgressDetail = &jsonProgress{Current: e.Current, Total: e.Total}
		m.Progress = dockerProgress(e.Current, e.Total)
	}
	return m
}

func (r *jsonRenderer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		for _, id := range r.order {
			if l := r.layers[id]; l.pending != nil {
				r.write(*l.pending)
				l.pending = nil
			}
		}
	}
	return r.out.err
}
