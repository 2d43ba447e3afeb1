// Package termtext makes text that came from outside imagec (a registry's
// error body, a manifest, an image config, an archive, another tool's
// index.json) safe to show on a terminal. It is the one place that decides
// which runes a terminal would act on instead of display; every printer of
// the CLI and of the progress renderers passes such text through it.
//
// Text is escaped visibly rather than dropped, so the user sees that the
// source sent something odd ("\x1b[2J"), and ordinary Unicode (non-Latin
// names, emoji) is left as it is.
package termtext

import (
	"strings"
	"unicode/utf8"
)

// Escape returns s with every unsafe rune written as a Go-style escape:
// `\n`, `\r`, `\t`, `\x1b` for the other C0 controls and DEL, `\u009b` for
// C1 controls, line separators and bidirectional overrides, and `\xff` for
// each byte that is not UTF-8. The result is one line with no control
// runes; text without unsafe runes is returned unchanged. Backslashes are
// not escaped: the point is a harmless terminal, not a reversible encoding.
func Escape(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			writeHex(&b, `\x`, uint32(s[i]), 2)
		case !unsafe(r):
			b.WriteString(s[i : i+n])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < utf8.RuneSelf:
			writeHex(&b, `\x`, uint32(r), 2)
		default:
			writeHex(&b, `\u`, uint32(r), 4)
		}
		i += n
	}
	return b.String()
}

// firstUnsafe is the byte offset of the first unsafe rune or invalid byte
// of s, or -1.
func firstUnsafe(s string) int {
	for i, r := range s {
		if unsafe(r) || r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			return i
		}
	}
	return -1
}

// unsafe reports whether a terminal may act on r rather than show it, or
// whether r would break a one-line message: C0 controls (ESC starts CSI and
// OSC sequences, BEL ends OSC, CR and LF move the cursor), DEL, C1 controls
// (U+009B is a one-rune CSI on terminals that take 8-bit controls), the
// Unicode line and paragraph separators, and the bidirectional formatting
// runes that make text display in another order than it reads
// ("Trojan Source"). Other format runes (the zero-width joiner of emoji,
// variation selectors) are ordinary text.
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // ALM, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // embeddings, overrides, isolates
		return true
	}
	return false
}

const hexDigits = "0123456789abcdef"

func writeHex(b *strings.Builder, prefix string, v uint32, width int) {
	b.WriteString(prefix)
	for shift := 4 * (width - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[v>>uint(shift)&0xf])
	}
}
