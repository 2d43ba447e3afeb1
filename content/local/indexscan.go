package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/imagec/imagec/errdefs"
)

// An index.json with thousands of names is megabytes of JSON. Looking one
// name up should not decode all of it: splitIndex cuts the document into
// its members and the manifests array into its elements with a structural
// scan (strings and nesting only), an order of magnitude faster than
// decoding; an element is decoded (and so validated) when it is needed.

// rawIndex is index.json cut into pieces.
type rawIndex struct {
	members   []member // top-level members in order, raw values
	manifests [][]byte // the elements of "manifests", raw
}

type member struct {
	key string
	raw []byte
}

// member returns the value encoding/json would decode into the field
// named name: keys match case-insensitively and the last one wins.
func (r *rawIndex) member(name string) ([]byte, bool) {
	var v []byte
	found := false
	for _, m := range r.members {
		if strings.EqualFold(m.key, name) {
			v, found = m.raw, true
		}
	}
	return v, found
}

// splitIndex cuts b, which must be one JSON object, into a rawIndex.
// Malformed structure fails with errdefs.ErrInvalidArgument.
func splitIndex(b []byte) (*rawIndex, error) {
	s := scanner{b: b}
	s.space()
	if !s.eat('{') {
		return nil, s.fail("want an object")
	}
	r := &rawIndex{}
	s.space()
	if s.eat('}') {
		return r, s.end()
	}
	for {
		s.space()
		key, err := s.key()
		if err != nil {
			return nil, err
		}
		s.space()
		if !s.eat(':') {
			return nil, s.fail("want ':'")
		}
		s.space()
		start := s.i
		if strings.EqualFold(key, "manifests") {
			r.manifests = nil // the last one wins, as it does for encoding/json
			if s.peek() == '[' {
				if r.manifests, err = s.elements(); err != nil {
					return nil, err
				}
			} else if err := s.value(); err != nil {
				return nil, err
			}
		} else if err := s.value(); err != nil {
			return nil, err
		}
		r.members = append(r.members, member{key, b[start:s.i]})
		s.space()
		if s.eat('}') {
			return r, s.end()
		}
		if !s.eat(',') {
			return nil, s.fail("want ',' or '}'")
		}
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("parse index at byte %d: %s: %w", s.i, what, errdefs.ErrInvalidArgument)
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return s.fail("data after the object")
	}
	return nil
}

// key reads a member name, decoded.
func (s *scanner) key() (string, error) {
	start := s.i
	if err := s.str(); err != nil {
		return "", err
	}
	k, err := strconv.Unquote(string(s.b[start:s.i]))
	if err != nil {
		var v string
		if json.Unmarshal(s.b[start:s.i], &v) != nil {
			return "", s.fail("bad member name")
		}
		k = v
	}
	return k, nil
}

// str skips a string, escapes included.
func (s *scanner) str() error {
	if !s.eat('"') {
		return s.fail("want a string")
	}
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			s.i = len(s.b)
			return s.fail("unterminated string")
		}
		s.i += j + 1
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for k := s.i - 2; k >= 0 && s.b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return nil
		}
	}
}

// value skips one value of any kind, nesting included. The kinds of
// brackets are not matched: every piece that is used is decoded, which
// checks it.
func (s *scanner) value() error {
	switch s.peek() {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return s.fail("unterminated value")
	}
	start := s.i // a number, true, false or null
	for s.i < len(s.b) && bytes.IndexByte([]byte(",}] \t\r\n"), s.b[s.i]) < 0 {
		s.i++
	}
	if s.i == start {
		return s.fail("want a value")
	}
	return nil
}

// elements cuts an array into its elements.
func (s *scanner) elements() ([][]byte, error) {
	s.eat('[')
	var out [][]byte
	s.space()
	if s.eat(']') {
		return out, nil
	}
	for {
		s.space()
		start := s.i
		if err := s.value(); err != nil {
			return nil, err
		}
		out = append(out, bytes.TrimSpace(s.b[start:s.i]))
		s.space()
		if s.eat(']') {
			return out, nil
		}
		if !s.eat(',') {
			return nil, s.fail("want ',' or ']' in manifests")
		}
	}
}
