package progress

import (
	"io"
	"strconv"
	"sync"

	"github.com/imagec/imagec/internal/termtext"
)

// milestoneMinSize is the size from which a transfer also gets a line at
// 25%, 50% and 75%: small layers finish before anyone reads the log, large
// ones would otherwise look stuck.
const milestoneMinSize = 10 * 1000 * 1000

type plainLayer struct {
	action    Action
	message   string
	milestone int64 // quarters of the transfer already reported
}

type plainRenderer struct {
	mu     sync.Mutex
	out    output
	layers map[string]*plainLayer
	closed bool
}

// NewPlain returns a Renderer for logs and pipes: one line per state change
// ("abcdef012345: Pull complete"), no cursor movement. A transfer prints one
// line when it starts, with its total, plus lines at 25/50/75% for layers
// of 10MB and more; every retry and failure is printed.
func NewPlain(w io.Writer) Renderer {
	return &plainRenderer{out: output{w: w}, layers: map[string]*plainLayer{}}
}

func (r *plainRenderer) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if line, ok := r.line(e); ok {
		// Messages and errors carry a registry's text: escaped, it cannot
		// move the cursor or recolor the terminal.
		r.out.write([]byte(termtext.Escape(line) + "\n"))
	}
}

// line decides whether e is a state change worth a line, and formats it.
func (r *plainRenderer) line(e Event) (string, bool) {
	if e.ID == "" || e.Action == PullingFrom {
		return prefix(e.ID) + statusText(e), true
	}
	l := r.layers[e.ID]
	if l == nil {
		l = &plainLayer{}
		r.layers[e.ID] = l
	}
	changed := l.action != e.Action || l.message != e.Message
	l.action, l.message = e.Action, e.Message
	switch {
	case isTransfer(e.Action) && changed:
		l.milestone = quarter(e.Current, e.Total)
		text := statusText(e)
		if e.Total > 0 {
			text += " " + HumanSize(e.Total)
		}
		return prefix(e.ID) + text, true
	case isTransfer(e.Action):
		if e.Total < milestoneMinSize {
			return "", false
		}
		q := quarter(e.Current, e.Total)
		if q <= l.milestone || q >= 4 {
			return "", false
		}
		l.milestone = q
		return prefix(e.ID) + statusText(e) + " " + HumanSize(e.Current) + "/" + HumanSize(e.Total) +
			" (" + strconv.FormatInt(q*25, 10) + "%)", true
	case e.Action == Retrying || e.Action == Failed || changed:
		return prefix(e.ID) + statusText(e), true
	}
	return "", false
}

// quarter is how many quarters of total current has reached (0..4).
func quarter(current, total int64) int64 {
	if total <= 0 || current <= 0 {
		return 0
	}
	// In floating point: current*4 could overflow for absurd sizes.
	return min(int64(float64(current)/float64(total)*4), 4)
}

func prefix(id string) string {
	if id == "" {
		return ""
	}
	return id + ": "
}

func (r *plainRenderer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return r.out.err
}
