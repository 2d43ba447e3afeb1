package testregistry

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		typ, name string
		actions   []string
		ok        bool
	}{
		{"repository:samples/hello:pull", "repository", "samples/hello", []string{"pull"}, true},
		{"repository:a/b:pull,push", "repository", "a/b", []string{"pull", "push"}, true},
		{"repository(plugin):p:pull", "repository", "p", []string{"pull"}, true},
		{"repository:localhost:5000/x:pull", "repository", "localhost:5000/x", []string{"pull"}, true},
		{"registry:catalog:*", "registry", "catalog", []string{"*"}, true},
		{"repository:nope", "", "", nil, false},
		{"", "", "", nil, false},
	}
	for _, tc := range tests {
		typ, name, actions, ok := parseScope(tc.in)
		if typ != tc.typ || name != tc.name || !slices.Equal(actions, tc.actions) || ok != tc.ok {
			t.Errorf("parseScope(%q) = %q %q %v %v", tc.in, typ, name, actions, ok)
		}
	}
}

func TestTokenGrants(t *testing.T) {
	t.Parallel()
	ca, err := newCA("t")
	if err != nil {
		t.Fatal(err)
	}
	limited := map[string]tokenUser{"bob": {pass: "b", grants: map[string][]string{"r": {"pull"}}}}
	tests := []struct {
		name     string
		anonPull bool
		user     string
		want     string // granted actions on repository:r, joined
	}{
		{"anonymous refused", false, "", ""},
		{"anonymous pull", true, "", "pull"},
		{"user", false, "u", "pull,push"},
		{"limited user", false, "bob", "pull"},
	}
	for _, tc := range tests {
		ts, err := newTokenServer(ca, config{user: "u", pass: "p", anonPull: tc.anonPull, tokenUsers: limited})
		if err != nil {
			t.Fatal(err)
		}
		got := ts.grant(tc.user, []string{"repository:r:pull,push,delete"})
		joined := ""
		if len(got) == 1 {
			joined = strings.Join(got[0].Actions, ",")
		}
		if joined != tc.want || len(got) > 1 {
			t.Errorf("%s: granted %q, want %q", tc.name, joined, tc.want)
		}
	}
}

func TestTokenServerOAuthFlow(t *testing.T) {
	t.Parallel()
	ca, err := newCA("t")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := newTokenServer(ca, config{user: "u", pass: "p"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(form url.Values) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		ts.ServeHTTP(w, req)
		var body map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body
	}
	code, body := post(url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}, "scope": {"repository:r:pull"}})
	refresh, _ := body["refresh_token"].(string)
	if code != http.StatusOK || body["access_token"] == nil || refresh == "" {
		t.Fatalf("password grant: %d %v", code, body)
	}
	if code, body = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); code != http.StatusOK || body["access_token"] == nil {
		t.Errorf("refresh grant: %d %v", code, body)
	}
	if code, _ = post(url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"bad"}}); code != http.StatusUnauthorized {
		t.Errorf("bad password: %d, want 401", code)
	}
	if code, _ = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"forged"}}); code != http.StatusUnauthorized {
		t.Errorf("forged refresh token: %d, want 401", code)
	}
}

// FuzzParseScope: scopes come from untrusted query strings; parsing must not
// panic, and an accepted scope must split back into what was given.
func FuzzParseScope(f *testing.F) {
	f.Add("repository:samples/hello:pull,push")
	f.Add("repository(plugin):a:b:c")
	f.Add(":::")
	f.Fuzz(func(t *testing.T, s string) {
		typ, name, actions, ok := parseScope(s)
		if !ok {
			return
		}
		if strings.Contains(typ, ":") || strings.Contains(strings.Join(actions, ","), ":") {
			t.Fatalf("parseScope(%q) = %q %q %q", s, typ, name, actions)
		}
		if !strings.HasSuffix(s, ":"+name+":"+strings.Join(actions, ",")) {
			t.Fatalf("parseScope(%q) lost text: %q %q", s, name, actions)
		}
	})
}
