package transfer

import (
	"io"

	"github.com/imagec/imagec/progress"
)

// progressStep is how many bytes pass between two progress events, so a
// fast transfer is not slowed by its own reporting.
const progressStep = 512 << 10

// Meter counts the bytes of one blob's transfer and reports them as
// progress events of one action (Downloading, Pushing) and ID.
type Meter struct {
	emit     func(progress.Event)
	action   progress.Action
	id       string
	total    int64
	current  int64
	reported int64
}

// NewMeter starts counting at current (bytes already transferred, as after
// a resume) of total.
func NewMeter(emit func(progress.Event), action progress.Action, id string, current, total int64) *Meter {
	return &Meter{emit: emit, action: action, id: id, current: current, total: total}
}

// Add counts n more bytes.
func (m *Meter) Add(n int) {
	m.current += int64(n)
	if m.current-m.reported >= progressStep || m.current == m.total {
		m.Flush()
	}
}

// Flush reports the count unless it was reported already.
func (m *Meter) Flush() {
	if m.current == m.reported && m.reported != 0 {
		return
	}
	m.reported = m.current
	m.emit(progress.Event{ID: m.id, Action: m.action, Current: m.current, Total: m.total})
}

// Writer counts what passes through to w.
func (m *Meter) Writer(w io.Writer) io.Writer { return meterWriter{w, m} }

// Reader counts what is read through r.
func (m *Meter) Reader(r io.Reader) io.Reader { return meterReader{r, m} }

type meterWriter struct {
	w io.Writer
	m *Meter
}

func (mw meterWriter) Write(b []byte) (int, error) {
	n, err := mw.w.Write(b)
	mw.m.Add(n)
	return n, err
}

type meterReader struct {
	r io.Reader
	m *Meter
}

func (mr meterReader) Read(b []byte) (int, error) {
	n, err := mr.r.Read(b)
	mr.m.Add(n)
	return n, err
}
