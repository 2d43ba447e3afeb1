package config

import (
	"fmt"
	"net/http"
	"strings"
)

// refusedHeaders are headers a hosts.toml may not set: imagec's own
// (credentials come from Docker's config and go only to the host that
// challenged; the User-Agent is imagec's) and those that frame the request.
var refusedHeaders = map[string]string{
	"Authorization":     "credentials belong in Docker's config.json, sent only to the host that asks",
	"User-Agent":        "imagec sets its own",
	"Host":              "it frames the request",
	"Content-Length":    "it frames the request",
	"Transfer-Encoding": "it frames the request",
	"Connection":        "it frames the request",
}

// headers reads a [header] table: each key a string or a list of strings.
// Errors name the header, never its value, which may be a secret.
func headers(m map[string]any) (http.Header, error) {
	if len(m) == 0 {
		return nil, nil
	}
	h := http.Header{}
	for name, v := range m {
		if !validToken(name) {
			return nil, fmt.Errorf("header %q: not a valid header name", name)
		}
		key := http.CanonicalHeaderKey(name)
		if why, refused := refusedHeaders[key]; refused {
			return nil, fmt.Errorf("header %s is not allowed: %s", key, why)
		}
		if _, dup := h[key]; dup {
			return nil, fmt.Errorf("header %s is set twice", key)
		}
		var values []string
		switch v := v.(type) {
		case string:
			values = []string{v}
		case []any:
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("header %s: want a string or a list of strings", key)
				}
				values = append(values, s)
			}
		default:
			return nil, fmt.Errorf("header %s: want a string or a list of strings", key)
		}
		if len(values) == 0 {
			return nil, fmt.Errorf("header %s: no value", key)
		}
		for _, s := range values {
			if !validValue(s) {
				return nil, fmt.Errorf("header %s: a value holds a control character", key)
			}
		}
		h[key] = values
	}
	return h, nil
}

// validToken is RFC 9110's token: the characters a field name may hold.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !ok && !containsByte("!#$%&'*+-.^_`|~", c) {
			return false
		}
	}
	return true
}

// validValue refuses control characters (CR and LF would end the header)
// but horizontal tab.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func containsByte(set string, c byte) bool { return strings.IndexByte(set, c) >= 0 }
