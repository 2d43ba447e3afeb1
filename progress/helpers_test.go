package progress

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// fakeClock is a settable clock so throttling and rates are deterministic.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// screen is a tiny terminal emulator: printable runes, CR, LF, cursor up
// (ESC[nA), cursor down (ESC[nB) and clear line (ESC[2K). Anything else, and
// any write past the last column (which a real terminal would wrap), is an
// error, since it would break the renderer's cursor arithmetic.
type screen struct {
	width    int
	lines    [][]rune
	row, col int
}

func (s *screen) ensureRow() {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, nil)
	}
}

func (s *screen) write(out string) error {
	for i := 0; i < len(out); {
		c := out[i]
		switch {
		case c == '\r':
			s.col = 0
			i++
		case c == '\n':
			s.row++
			s.col = 0 // the renderer must not rely on LF keeping the column
			s.ensureRow()
			i++
		case c == 0x1b:
			if i+1 >= len(out) || out[i+1] != '[' {
				return fmt.Errorf("bare ESC at %d", i)
			}
			j := i + 2
			for j < len(out) && out[j] >= '0' && out[j] <= '9' {
				j++
			}
			if j >= len(out) {
				return fmt.Errorf("unterminated CSI at %d", i)
			}
			n := 1
			if j > i+2 {
				n, _ = strconv.Atoi(out[i+2 : j])
			}
			switch out[j] {
			case 'A':
				if n > s.row {
					return fmt.Errorf("cursor up %d from row %d leaves the screen", n, s.row)
				}
				s.row -= n
			case 'B':
				s.row += n
				if s.row >= len(s.lines) {
					return fmt.Errorf("cursor down to row %d past the last line %d", s.row, len(s.lines)-1)
				}
			case 'K':
				if n != 2 {
					return fmt.Errorf("unsupported erase ESC[%dK", n)
				}
				s.ensureRow()
				s.lines[s.row] = nil
			default:
				return fmt.Errorf("unsupported CSI %q", out[i:j+1])
			}
			i = j + 1
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("control byte %#x at %d", c, i)
		default:
			r, size := utf8.DecodeRuneInString(out[i:])
			if s.width > 0 && s.col >= s.width {
				return fmt.Errorf("line %d wraps past %d columns", s.row, s.width)
			}
			s.ensureRow()
			line := s.lines[s.row]
			for len(line) <= s.col {
				line = append(line, ' ')
			}
			line[s.col] = r
			s.lines[s.row] = line
			s.col++
			i += size
		}
	}
	return nil
}

// text returns the screen's lines, right-trimmed, without trailing blanks.
func (s *screen) text() []string {
	var out []string
	for _, l := range s.lines {
		out = append(out, strings.TrimRight(string(l), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// lockedBuffer lets a test read output while renderers may still write.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
