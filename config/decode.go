package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/imagec/imagec/errdefs"
)

// member is one name/value pair of a JSON object.
type member struct {
	name  string
	value json.RawMessage
}

// parse decodes a configuration file; dir resolves relative CA file paths.
// encoding/json alone is not strict enough here: it matches field names
// case-insensitively and keeps the last of duplicate keys, so a misspelt or
// repeated setting would be silently ignored. Objects are therefore walked
// member by member.
func parse(data []byte, dir string) (*Config, error) {
	c := &Config{Registries: map[string]Registry{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	top, err := members(data)
	if err != nil {
		return nil, invalid("", err)
	}
	for _, m := range top {
		switch m.name {
		case "hostsDir":
			if err := json.Unmarshal(m.value, &c.HostsDir); err != nil {
				return nil, invalid("hostsDir", errors.New("want a directory path string"))
			}
			if c.HostsDir != "" && !filepath.IsAbs(c.HostsDir) {
				c.HostsDir = filepath.Join(dir, c.HostsDir)
			}
			continue
		case "verify":
			if err := json.Unmarshal(m.value, &c.Verify); err != nil {
				return nil, invalid("verify", errors.New("want true or false"))
			}
			continue
		case "policy":
			if err := json.Unmarshal(m.value, &c.Policy); err != nil {
				return nil, invalid("policy", errors.New("want a file path string"))
			}
			if c.Policy != "" && !filepath.IsAbs(c.Policy) {
				c.Policy = filepath.Join(dir, c.Policy)
			}
			continue
		case "registries":
		default:
			return nil, invalid("", fmt.Errorf("unknown field %q (want registries, hostsDir, verify or policy)", m.name))
		}
		entries, err := members(m.value)
		if err != nil {
			return nil, invalid("registries", err)
		}
		for _, e := range entries {
			key := fmt.Sprintf("registries[%q]", e.name)
			domain, err := parseHost(e.name)
			if err != nil {
				return nil, invalid(key, fmt.Errorf("not a registry domain (host[:port]): %w", err))
			}
			domain = normalizeDomain(domain)
			if _, dup := c.Registries[domain]; dup {
				return nil, invalid(key, fmt.Errorf("%s is configured twice", domain))
			}
			reg, err := parseRegistry(key, e.value, dir)
			if err != nil {
				return nil, err
			}
			c.Registries[domain] = reg
		}
	}
	return c, nil
}

func parseRegistry(key string, data json.RawMessage, dir string) (Registry, error) {
	var reg Registry
	fields, err := members(data)
	if err != nil {
		return Registry{}, invalid(key, err)
	}
	for _, f := range fields {
		fkey := key + "." + f.name
		switch f.name {
		case "mirrors":
			var raw []string
			if err := json.Unmarshal(f.value, &raw); err != nil {
				return Registry{}, invalid(fkey, errors.New("want an array of strings"))
			}
			seen := map[Mirror]bool{}
			for i, s := range raw {
				m, err := ParseMirror(s)
				if err != nil {
					return Registry{}, fmt.Errorf("%s[%d]: %w", fkey, i, err)
				}
				if seen[m] {
					return Registry{}, invalid(fmt.Sprintf("%s[%d]", fkey, i), fmt.Errorf("mirror %s is listed twice", m))
				}
				seen[m] = true
				reg.Mirrors = append(reg.Mirrors, m)
			}
		case "insecureAllowHTTP", "insecureSkipVerify":
			var b bool
			if err := json.Unmarshal(f.value, &b); err != nil {
				return Registry{}, invalid(fkey, errors.New("want true or false"))
			}
			if f.name == "insecureAllowHTTP" {
				reg.InsecureAllowHTTP = b
			} else {
				reg.InsecureSkipVerify = b
			}
		case "parts":
			var n int
			if err := json.Unmarshal(f.value, &n); err != nil || n < 1 || n > 64 {
				return Registry{}, invalid(fkey, errors.New("want a number of parts from 1 (one stream) to 64"))
			}
			reg.Parts = n
		case "caFile":
			var p string
			if err := json.Unmarshal(f.value, &p); err != nil {
				return Registry{}, invalid(fkey, errors.New("want a file path string"))
			}
			if p != "" && !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			reg.CAFile = p
		default:
			return Registry{}, invalid(key, fmt.Errorf("unknown field %q (want mirrors, insecureAllowHTTP, caFile, insecureSkipVerify or parts)", f.name))
		}
	}
	return reg, nil
}

// invalid names the key at fault (if any) and marks err as bad input.
func invalid(key string, err error) error {
	if key == "" {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %w: %w", key, err, errdefs.ErrInvalidArgument)
}

// members reads data as exactly one JSON object (or null, read as an empty
// one) and returns its members in order. Duplicate names, anything but an
// object, and trailing data are errors; syntax errors carry a line:column.
func members(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(data, err)
	}
	if tok == nil { // null
		return nil, trailing(dec, data)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object")
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(data, err)
		}
		name, _ := tok.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxError(data, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("duplicate key %q", name)
		}
		seen[name] = true
		out = append(out, member{name: name, value: v})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, syntaxError(data, err)
	}
	return out, trailing(dec, data)
}

func trailing(dec *json.Decoder, data []byte) error {
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("unexpected data after the JSON object at %s", position(data, dec.InputOffset()))
		}
		return syntaxError(data, err)
	}
	return nil
}

// syntaxError locates a JSON syntax error as line:column.
func syntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at %s: %v", position(data, se.Offset), se)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end of file")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func position(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}
