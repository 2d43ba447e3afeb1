package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/imagec/imagec/internal/termtext"
)

// Everything imagec prints for a person goes through these printers, because
// most of it came from outside: registry error bodies, names and
// annotations other tools wrote into index.json, image configs, archive
// member names. Escaped, that text cannot drive the user's terminal.

// printLine prints s as one line, escaped.
func printLine(w io.Writer, s string) {
	fmt.Fprintln(w, termtext.Escape(s))
}

// printRow prints one row of a tabwriter table, each cell escaped: a tab or
// newline inside a cell would also break the columns.
func printRow(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = termtext.Escape(c)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// printDocument prints a document as a registry served it (a manifest).
// Piped, the bytes go out exact, because a program reading them may hash
// them; on a terminal (tty) the runes a terminal acts on become JSON
// escapes, which leave a JSON document the same document, and a final
// newline keeps the prompt off its last line.
func printDocument(w io.Writer, doc []byte, tty bool) error {
	if tty {
		doc = termtext.JSON(doc)
		if !bytes.HasSuffix(doc, []byte("\n")) {
			doc = append(doc[:len(doc):len(doc)], '\n')
		}
	}
	_, err := w.Write(doc)
	return err
}

// printJSON prints v as indented JSON. Values are kept exactly (this output
// is for programs), with the runes a terminal acts on written as JSON
// escapes, which encoding/json does not do for C1 controls.
func printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(termtext.JSON(buf.Bytes()))
	return err
}
