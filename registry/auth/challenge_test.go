package auth

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	type P = map[string]string
	tests := []struct {
		name    string
		headers []string
		want    []Challenge
	}{
		{
			name:    "docker hub",
			headers: []string{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`},
			want: []Challenge{{Scheme: "bearer", Params: P{
				"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull",
			}}},
		},
		{
			name:    "basic",
			headers: []string{`Basic realm="Registry Realm"`},
			want:    []Challenge{{Scheme: "basic", Params: P{"realm": "Registry Realm"}}},
		},
		{
			name:    "scheme and names are case-insensitive, values are not",
			headers: []string{`BEARER Realm="https://A/b",SERVICE=Svc`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "https://A/b", "service": "Svc"}}},
		},
		{
			name:    "two challenges in one header",
			headers: []string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`},
			want: []Challenge{
				{Scheme: "newauth", Params: P{"realm": "apps", "type": "1", "title": `Login to "apps"`}},
				{Scheme: "basic", Params: P{"realm": "simple"}},
			},
		},
		{
			name:    "several headers",
			headers: []string{`Basic realm="a"`, `Bearer realm="https://t/token"`},
			want: []Challenge{
				{Scheme: "basic", Params: P{"realm": "a"}},
				{Scheme: "bearer", Params: P{"realm": "https://t/token"}},
			},
		},
		{
			name:    "odd whitespace and BWS around equals",
			headers: []string{"  Bearer \t realm = \"https://t/x\" ,\t service\t=\tsvc ,, "},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "https://t/x", "service": "svc"}}},
		},
		{
			name:    "unquoted URL value",
			headers: []string{`Bearer realm=https://auth.example.com/token?x=1,service=reg`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "https://auth.example.com/token?x=1", "service": "reg"}}},
		},
		{
			name:    "comma and escaped backslash inside quotes",
			headers: []string{`Bearer realm="a,b\\c", scope="repository:x:pull,push"`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": `a,b\c`, "scope": "repository:x:pull,push"}}},
		},
		{
			name:    "token68",
			headers: []string{`Negotiate YIIabc+/==, Basic realm="r"`},
			want: []Challenge{
				{Scheme: "negotiate", Params: P{}, Token68: "YIIabc+/=="},
				{Scheme: "basic", Params: P{"realm": "r"}},
			},
		},
		{
			name:    "scheme without params",
			headers: []string{`Negotiate, Bearer realm="r"`},
			want: []Challenge{
				{Scheme: "negotiate", Params: P{}},
				{Scheme: "bearer", Params: P{"realm": "r"}},
			},
		},
		{
			name:    "duplicate param keeps the first",
			headers: []string{`Bearer realm="first", realm="second"`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "first"}}},
		},
		{
			name:    "unterminated quote runs to the end",
			headers: []string{`Bearer realm="https://t/token, service=x`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "https://t/token, service=x"}}},
		},
		{
			name:    "garbage element between params is skipped",
			headers: []string{`Bearer realm="r", =junk, service="s"`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "r", "service": "s"}}},
		},
		{
			name:    "garbage after a value is skipped",
			headers: []string{`Bearer realm="r"junk junk, service="s"`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "r", "service": "s"}}},
		},
		{
			name:    "leading garbage then a challenge",
			headers: []string{`"quoted", @@@, Basic realm="r"`},
			want:    []Challenge{{Scheme: "basic", Params: P{"realm": "r"}}},
		},
		{
			name:    "scheme glued to equals is not a challenge",
			headers: []string{`Basic=abc, Bearer realm="r"`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "r"}}},
		},
		{
			name:    "empty and blank headers",
			headers: []string{"", "   ", ",,,"},
			want:    nil,
		},
		{
			name:    "empty quoted value",
			headers: []string{`Bearer realm="", service=""`},
			want:    []Challenge{{Scheme: "bearer", Params: P{"realm": "", "service": ""}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ParseChallenges(tt.headers)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseChallenges(%q)\n got %#v\nwant %#v", tt.headers, got, tt.want)
			}
		})
	}
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Negotiate YIIabc+/==, Basic realm="r"`,
		`Bearer realm="unterminated`,
		"\t,Basic\r\n realm = x ,",
		`Bearer realm="a\`,
		`=, ="", a=b=c`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		for _, c := range ParseChallenges([]string{header, header}) {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Fatalf("scheme %q is empty or not lower-case", c.Scheme)
			}
			for i := 0; i < len(c.Scheme); i++ {
				if !isTokenChar(c.Scheme[i]) {
					t.Fatalf("scheme %q holds a non-token character", c.Scheme)
				}
			}
			if c.Params == nil {
				t.Fatal("Params is nil")
			}
			for k, v := range c.Params {
				if k == "" || k != strings.ToLower(k) {
					t.Fatalf("param name %q is empty or not lower-case", k)
				}
				if !strings.Contains(header, k) && !strings.Contains(strings.ToLower(header), k) {
					t.Fatalf("param name %q does not come from the header", k)
				}
				if len(v) > len(header) {
					t.Fatalf("param value longer than the header")
				}
			}
			if utf8.ValidString(header) && !utf8.ValidString(c.Scheme) {
				t.Fatalf("invalid UTF-8 scheme from valid input")
			}
		}
	})
}
