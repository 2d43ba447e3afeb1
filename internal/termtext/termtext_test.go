package termtext

import (
	"encoding/json"
	"testing"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"registry.example/library/alpine:3.20", "registry.example/library/alpine:3.20"},
		{`/bin/sh -c echo "a\tb" > C:\x`, `/bin/sh -c echo "a\tb" > C:\x`},
		{"Ünïcödé 日本語 émoji 👨‍👩‍👧 ✅ U+FFFD \uFFFD", "Ünïcödé 日本語 émoji 👨‍👩‍👧 ✅ U+FFFD \uFFFD"},
		{"\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`},
		{"a\nb\r\nc\td", `a\nb\r\nc\td`},
		{"del\x7f nul\x00", `del\x7f nul\x00`},
		{"csi\u009b31m nel\u0085", `csi\u009b31m nel\u0085`},
		{"bad\x9b31m \xff\xfe", `bad\x9b31m \xff\xfe`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"admin\u202e\u2066txt.exe\u200f", `admin\u202e\u2066txt.exe\u200f`},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJSONKeepsValuesAndEscapesControls(t *testing.T) {
	t.Parallel()
	value := map[string]string{"name": "a\x1b[2J\u009b\u202e\x7f\u2028b 日本 👍", "plain": "x"}
	enc, err := json.MarshalIndent(value, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	got := JSON(enc)
	want := "{\n\t\"name\": \"a\\u001b[2J\\u009b\\u202e\\u007f\\u2028b 日本 👍\",\n\t\"plain\": \"x\"\n}"
	if string(got) != want {
		t.Fatalf("JSON = %s\nwant   %s", got, want)
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["name"] != value["name"] {
		t.Fatalf("decodes to %q (%v), want %q", back["name"], err, value["name"])
	}
	if clean := []byte(`{"a": "b"}`); &JSON(clean)[0] != &clean[0] {
		t.Error("clean JSON was copied")
	}
}
