package auth

import "strings"

// Challenge is one authentication challenge from a WWW-Authenticate header.
type Challenge struct {
	// Scheme is the lower-cased auth scheme: "bearer", "basic", ...
	Scheme string
	// Params holds the auth-params with lower-cased names. A name repeated
	// within one challenge keeps its first value. Never nil.
	Params map[string]string
	// Token68 is the challenge's token68 form ("Negotiate abc=="), if it used
	// one instead of auth-params. Registries do not use it for bearer/basic.
	Token68 string
}

// ParseChallenges parses WWW-Authenticate header values following RFC 7235:
// a header may hold several comma-separated challenges, each a scheme
// followed by either a token68 or comma-separated name=value params whose
// values are tokens or quoted strings with backslash escapes. The header is
// untrusted registry input, so the parser is lenient where registries are
// known to be sloppy (unquoted values containing ':' or '/', stray commas,
// tabs and line breaks as whitespace, an unterminated quote) and skips
// anything it cannot read instead of failing. It never panics.
func ParseChallenges(headers []string) []Challenge {
	var out []Challenge
	for _, h := range headers {
		p := challengeParser{s: h}
		out = p.parseAll(out)
	}
	return out
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) parseAll(out []Challenge) []Challenge {
	for {
		p.skipListSeparators()
		if p.eof() {
			return out
		}
		start := p.i
		scheme := p.token()
		if scheme == "" {
			p.skipElement()
			continue
		}
		ch := Challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		spaced := p.skipSpace()
		switch {
		case p.eof() || p.peek() == ',':
			// A scheme alone ("Negotiate") is a complete challenge.
		case !spaced:
			// "Basic=..." or "Bearer\"x\"": not a challenge; drop the element.
			p.i = start
			p.skipElement()
			continue
		default:
			p.parseBody(&ch)
		}
		out = append(out, ch)
	}
}

// parseBody reads what follows a challenge's scheme: a token68 or a list of
// auth-params. It stops before the scheme of the next challenge.
func (p *challengeParser) parseBody(ch *Challenge) {
	if t, ok := p.tryToken68(); ok {
		ch.Token68 = t
		return
	}
	for {
		name, ok := p.paramName()
		if !ok {
			if !p.eof() && isTokenChar(p.peek()) {
				// A token not followed by "=": the next challenge's scheme.
				return
			}
			// Garbage where a param should be: skip it, keep this challenge.
			p.skipElement()
			p.skipListSeparators()
			if p.eof() {
				return
			}
			continue
		}
		key := strings.ToLower(name)
		value := p.paramValue()
		if _, dup := ch.Params[key]; !dup {
			ch.Params[key] = value
		}
		p.skipSpace()
		if p.eof() {
			return
		}
		if p.peek() != ',' {
			// Garbage after a value: drop the rest of this element and
			// keep trying to read params from the next one.
			p.skipElement()
		}
		p.skipListSeparators()
		if p.eof() {
			return
		}
	}
}

// tryToken68 reads a token68 if that is what follows and it runs to the end
// of the list element; otherwise it consumes nothing.
func (p *challengeParser) tryToken68() (string, bool) {
	start := p.i
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == start {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	end := j
	for j < len(p.s) && isSpace(p.s[j]) {
		j++
	}
	if j < len(p.s) && p.s[j] != ',' {
		return "", false
	}
	// "realm=" with no value also lands here; read as a token68 it stays out
	// of Params, which is as good as any reading of it.
	p.i = j
	return p.s[start:end], true
}

// paramName reads `token BWS "=" BWS` and returns the token. On failure it
// consumes nothing.
func (p *challengeParser) paramName() (string, bool) {
	start := p.i
	name := p.token()
	if name == "" {
		return "", false
	}
	p.skipSpace()
	if p.eof() || p.peek() != '=' {
		p.i = start
		return "", false
	}
	p.i++
	p.skipSpace()
	return name, true
}

// paramValue reads a quoted string or, leniently, any run of characters up to
// whitespace or a comma (registries send unquoted URLs as values).
func (p *challengeParser) paramValue() string {
	if p.eof() {
		return ""
	}
	if p.peek() == '"' {
		return p.quoted()
	}
	start := p.i
	for !p.eof() && p.peek() != ',' && !isSpace(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at the opening quote and returns its
// unescaped content. An unterminated string runs to the end of the header.
func (p *challengeParser) quoted() string {
	p.i++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String()
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return b.String()
}

func (p *challengeParser) token() string {
	start := p.i
	for !p.eof() && isTokenChar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

// skipElement advances past the current list element: to the next comma that
// is not inside a quoted string, or to the end. It always makes progress.
func (p *challengeParser) skipElement() {
	if p.eof() {
		return
	}
	if p.peek() == ',' {
		p.i++
		return
	}
	for !p.eof() {
		switch p.peek() {
		case ',':
			return
		case '"':
			p.quoted()
		default:
			p.i++
		}
	}
}

func (p *challengeParser) skipSpace() bool {
	start := p.i
	for !p.eof() && isSpace(p.peek()) {
		p.i++
	}
	return p.i > start
}

func (p *challengeParser) skipListSeparators() {
	for !p.eof() && (isSpace(p.peek()) || p.peek() == ',') {
		p.i++
	}
}

func (p *challengeParser) eof() bool  { return p.i >= len(p.s) }
func (p *challengeParser) peek() byte { return p.s[p.i] }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isTokenChar reports whether c is an RFC 7230 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isToken68Char reports whether c may appear in a token68 before its padding.
func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}
