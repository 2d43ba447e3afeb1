package main

import (
	"bytes"
	"testing"
)

// A manifest goes out exact when piped; on a terminal what would drive it
// becomes a JSON escape (the same document) and the line ends.
func TestPrintDocument(t *testing.T) {
	t.Parallel()
	doc := []byte("{\"a\":\"\x1b[2J\u009b\"}")
	for tty, want := range map[bool]string{false: string(doc), true: "{\"a\":\"\\u001b[2J\\u009b\"}\n"} {
		var b bytes.Buffer
		if err := printDocument(&b, doc, tty); err != nil || b.String() != want {
			t.Errorf("tty %v: printed %q, want %q", tty, b.String(), want)
		}
	}
}
