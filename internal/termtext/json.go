package termtext

import (
	"bytes"
	"unicode/utf8"
)

// JSON returns the JSON text b with every unsafe rune written as a \u
// escape, so that the document decodes to the same value but carries
// nothing a terminal acts on. encoding/json already escapes C0 controls and
// U+2028/9, but passes DEL, C1 controls (U+009B) and bidirectional
// overrides through raw, and json.RawMessage (an image config) keeps
// whatever its source wrote. Machine-readable output keeps its exact
// values this way, where Escape would change them.
//
// Tabs, newlines and carriage returns are kept: in valid JSON they only
// occur between tokens. An invalid UTF-8 byte becomes \ufffd, the rune a
// JSON decoder reads it as.
func JSON(b []byte) []byte {
	i := firstUnsafeJSON(b)
	if i < 0 {
		return b
	}
	out := bytes.NewBuffer(make([]byte, 0, len(b)+32))
	out.Write(b[:i])
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out.WriteString(`\ufffd`)
		case unsafeJSON(r):
			out.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				out.WriteByte(hexDigits[uint32(r)>>uint(shift)&0xf])
			}
		default:
			out.Write(b[i : i+n])
		}
		i += n
	}
	return out.Bytes()
}

func firstUnsafeJSON(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if unsafeJSON(r) || r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

func unsafeJSON(r rune) bool { return unsafe(r) && r != '\t' && r != '\n' && r != '\r' }
