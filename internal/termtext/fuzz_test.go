package termtext

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"", "plain text", "\x1b]0;pwned\x07\x1b[2J", "\u009b31m", "\x9b31m", "a\nb", "\xff",
	"日本語 👨‍👩‍👧", "\u202eabc", "\uFFFD", `{"a":"\u001b\u009b"}`, "{\"a\":\"\u0085\"}",
}

// FuzzEscape checks the two promises of Escape: nothing unsafe comes out,
// and clean text comes out unchanged.
func FuzzEscape(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if unsafe(r) {
				t.Fatalf("Escape(%q) = %q: contains %U", s, out, r)
			}
		}
		if clean := utf8.ValidString(s) && !hasUnsafe(s); clean != (out == s) {
			t.Fatalf("Escape(%q) = %q: clean input %v, unchanged %v", s, out, clean, out == s)
		}
		if again := Escape(out); again != out {
			t.Fatalf("Escape not idempotent: %q then %q", out, again)
		}
	})
}

// FuzzJSON checks that JSON leaves a document's value as it was and no
// unsafe rune in its text.
func FuzzJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := JSON(b)
		if !utf8.Valid(out) {
			t.Fatalf("JSON(%q) = %q: not UTF-8", b, out)
		}
		for _, r := range string(out) {
			if unsafeJSON(r) {
				t.Fatalf("JSON(%q) = %q: contains %U", b, out, r)
			}
		}
		if !json.Valid(b) {
			return
		}
		var before, after any
		if err := json.Unmarshal(b, &before); err != nil {
			t.Skip() // valid syntax, but a number out of float64 range
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("JSON(%q) = %q: %v", b, out, err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("JSON(%q) = %q: decodes to %#v, was %#v", b, out, after, before)
		}
	})
}

func hasUnsafe(s string) bool {
	for _, r := range s {
		if unsafe(r) {
			return true
		}
	}
	return false
}
