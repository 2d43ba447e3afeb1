package progress

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/imagec/imagec/internal/termtext"
)

// ttyInterval bounds redraws of one line caused by byte counts; state
// changes are drawn at once.
const ttyInterval = 100 * time.Millisecond

// Columns a transfer line needs besides its bar: "abcdef012345: Downloading "
// before it, " " + counts (at most 16) + "  999.9MB/s" after, and the bar's
// brackets and arrow head. Fixing them keeps the bar from changing length as
// the numbers change.
const (
	ttyFixedColumns = len("abcdef012345: Downloading ") + len("[>]") + len(" ") + 16 + len("  999.9MB/s")
	ttyMaxBar       = 50 // docker's bar
	ttyMinBar       = 10 // below this a bar says nothing; show only numbers
)

// ttyLine is one layer's line on screen.
type ttyLine struct {
	row   int // index of the line in what was printed, counted from the first
	ev    Event
	drawn time.Time
	dirty bool
	rate  rateMeter
}

type ttyRenderer struct {
	mu     sync.Mutex
	out    output
	now    func() time.Time
	cols   int // usable columns per line
	barW   int // 0: no bar
	rows   int // lines printed; the cursor rests at column 0 of row `rows`
	layers map[string]*ttyLine
	order  []*ttyLine
	dirty  int
	buf    []byte
	closed bool
}

// NewTTY returns a Renderer that draws like `docker pull` on a terminal of
// width columns (80 if width <= 0): a line per layer, rewritten in place with
// ANSI cursor movement, with a bar, counts and transfer rate while
// downloading. Lines are cut to fit the width, since a wrapped line would
// shift every line above it out of the cursor arithmetic.
func NewTTY(w io.Writer, width int) Renderer { return newTTY(w, width, time.Now) }

func newTTY(w io.Writer, width int, now func() time.Time) *ttyRenderer {
	if width <= 0 {
		width = defaultWidth
	}
	// Keep the last column free: terminals differ on whether writing it
	// wraps at once or on the next character.
	cols := max(width-1, 1)
	barW := min(cols-ttyFixedColumns, ttyMaxBar)
	if barW < ttyMinBar {
		barW = 0
	}
	return &ttyRenderer{out: output{w: w}, now: now, cols: cols, barW: barW, layers: map[string]*ttyLine{}}
}

func (r *ttyRenderer) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := r.now()
	switch {
	case e.Action == PullingFrom:
		// A new pull (pull -a, several platforms) starts a new block; the
		// previous one is left as it last was.
		r.flush(time.Time{})
		clear(r.layers)
		r.order = r.order[:0]
		r.appendLine(prefix(e.ID) + statusText(e))
	case e.ID == "":
		r.appendLine(statusText(e))
	default:
		r.update(e, now)
	}
	r.flush(now)
	r.out.write(r.buf)
	r.buf = r.buf[:0]
}

func (r *ttyRenderer) update(e Event, now time.Time) {
	l := r.layers[e.ID]
	if l == nil {
		l = &ttyLine{row: r.rows, ev: e, drawn: now}
		l.rate.add(now, e.Current)
		r.layers[e.ID] = l
		r.order = append(r.order, l)
		r.appendLine(r.text(l))
		return
	}
	changed := l.ev.Action != e.Action || l.ev.Message != e.Message || e.Action == Failed
	if isMoving(e.Action) {
		if changed {
			l.rate = rateMeter{}
		}
		l.rate.add(now, e.Current)
	}
	l.ev = e
	if changed || now.Sub(l.drawn) >= ttyInterval {
		r.redraw(l, now)
		return
	}
	if !l.dirty {
		l.dirty = true
		r.dirty++
	}
}

// flush redraws the dirty lines last drawn before now-ttyInterval; with a
// zero now, all of them. Lines are redrawn on the next event of any layer,
// so a throttled count does not wait for its own layer's next event.
func (r *ttyRenderer) flush(now time.Time) {
	if r.dirty == 0 {
		return
	}
	for _, l := range r.order {
		if l.dirty && (now.IsZero() || now.Sub(l.drawn) >= ttyInterval) {
			r.redraw(l, now)
		}
	}
}

func (r *ttyRenderer) appendLine(s string) {
	r.buf = append(r.buf, r.fit(s)...)
	r.buf = append(r.buf, '\n')
	r.rows++
}

// redraw rewrites l in place: up to its row, clear, write, back down.
func (r *ttyRenderer) redraw(l *ttyLine, now time.Time) {
	up := strconv.Itoa(r.rows - l.row)
	r.buf = append(r.buf, "\x1b["+up+"A\r\x1b[2K"...)
	r.buf = append(r.buf, r.text(l)...)
	r.buf = append(r.buf, "\r\x1b["+up+"B"...)
	l.drawn = now
	if l.dirty {
		l.dirty = false
		r.dirty--
	}
}

func (r *ttyRenderer) text(l *ttyLine) string {
	e := l.ev
	s := prefix(e.ID) + statusText(e)
	if isTransfer(e.Action) && (e.Current > 0 || e.Total > 0) {
		if e.Total > 0 && r.barW > 0 {
			s += " " + bar(e.Current, e.Total, r.barW)
		}
		s += " " + counts(e.Current, e.Total)
		if isMoving(e.Action) {
			if bps := l.rate.perSecond(); bps > 0 {
				s += "  " + HumanSize(int64(bps)) + "/s"
			}
		}
	}
	return r.fit(s)
}

// fit makes s safe to print (a registry's text must not take over the
// cursor this renderer moves) and cuts it to the usable columns (counting a
// rune as one column, which holds for the ASCII docker prints).
func (r *ttyRenderer) fit(s string) string {
	s = termtext.Escape(s)
	if utf8.RuneCountInString(s) <= r.cols {
		return s
	}
	n := 0
	for i := range s {
		if n == r.cols {
			return s[:i]
		}
		n++
	}
	return s
}

func (r *ttyRenderer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.flush(time.Time{})
		r.out.write(r.buf)
		r.buf = nil
	}
	return r.out.err
}

// rateMeter averages a transfer rate over a sliding window of a few
// seconds: steady enough to read, recent enough to show a stall.
type rateMeter struct {
	samples []rateSample
}

type rateSample struct {
	t time.Time
	n int64
}

const (
	rateWindow  = 3 * time.Second
	rateMinSpan = 250 * time.Millisecond // shorter spans give wild numbers
	rateStep    = 100 * time.Millisecond // samples closer than this are merged
)

func (m *rateMeter) add(t time.Time, n int64) {
	k := len(m.samples)
	if k > 0 && n < m.samples[k-1].n {
		m.samples = m.samples[:0] // the transfer restarted
		k = 0
	}
	if k >= 2 && t.Sub(m.samples[k-2].t) < rateStep {
		m.samples[k-1] = rateSample{t, n}
	} else {
		m.samples = append(m.samples, rateSample{t, n})
	}
	// Drop old samples but keep one at or beyond the window's start.
	drop := 0
	for drop+1 < len(m.samples)-1 && t.Sub(m.samples[drop+1].t) >= rateWindow {
		drop++
	}
	m.samples = append(m.samples[:0], m.samples[drop:]...)
}

// perSecond is bytes per second over the window, 0 when not yet known.
func (m *rateMeter) perSecond() float64 {
	if len(m.samples) < 2 {
		return 0
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	span := last.t.Sub(first.t)
	if span < rateMinSpan {
		return 0
	}
	return float64(last.n-first.n) / span.Seconds()
}
