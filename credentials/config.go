// Package credentials reads and writes registry credentials the way the
// docker CLI keeps them: in config.json ("auths", "credsStore",
// "credHelpers") and in docker-credential-* helper programs. Its Store plugs
// into registry/auth through CredentialFunc.
package credentials

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imagec/imagec/errdefs"
)

const (
	// dockerHubKey is the key docker uses for Docker Hub in config.json and
	// in credential helpers, whatever name the user pulled through.
	dockerHubKey = "https://index.docker.io/v1/"
	// dockerHubHost is the normalized host all Docker Hub aliases map to.
	dockerHubHost = "index.docker.io"
	// maxConfigSize bounds config.json; real ones are a few KiB.
	maxConfigSize = 16 << 20
)

// DefaultPath returns $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json, else "" when the home directory is unknown.
func DefaultPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

// configFile is a parsed config.json. raw keeps every top-level field so a
// save writes back what imagec does not understand; the typed fields are
// views of raw that save re-encodes.
type configFile struct {
	raw         map[string]json.RawMessage
	auths       map[string]json.RawMessage // entries kept raw: unknown fields survive
	credsStore  string
	credHelpers map[string]string
}

// readConfig reads path; a missing file is an empty config.
func readConfig(path string) (*configFile, error) {
	if path == "" {
		return parseConfig(nil, path)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return parseConfig(nil, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading docker config %s: %w", path, fileErrCategory(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading docker config %s: %w", path, fileErrCategory(err))
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("docker config %s exceeds %d bytes: %w", path, maxConfigSize, errdefs.ErrTooLarge)
	}
	return parseConfig(data, path)
}

func parseConfig(data []byte, path string) (*configFile, error) {
	c := &configFile{raw: map[string]json.RawMessage{}, auths: map[string]json.RawMessage{}, credHelpers: map[string]string{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	// Decoding errors can quote the offending bytes, which may be a
	// credential, so none of them is passed on.
	if err := json.Unmarshal(data, &c.raw); err != nil {
		return nil, fmt.Errorf("docker config %s is not a JSON object: %w", path, errdefs.ErrInvalidArgument)
	}
	if c.raw == nil { // the file says "null": as good as empty
		c.raw = map[string]json.RawMessage{}
	}
	if v, ok := c.raw["auths"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &c.auths); err != nil {
			return nil, fmt.Errorf("docker config %s: \"auths\" is not an object: %w", path, errdefs.ErrInvalidArgument)
		}
		if c.auths == nil {
			c.auths = map[string]json.RawMessage{}
		}
	}
	if v, ok := c.raw["credsStore"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &c.credsStore); err != nil {
			return nil, fmt.Errorf("docker config %s: \"credsStore\" is not a string: %w", path, errdefs.ErrInvalidArgument)
		}
	}
	if v, ok := c.raw["credHelpers"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &c.credHelpers); err != nil {
			return nil, fmt.Errorf("docker config %s: \"credHelpers\" is not an object of strings: %w", path, errdefs.ErrInvalidArgument)
		}
		if c.credHelpers == nil {
			c.credHelpers = map[string]string{}
		}
	}
	return c, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// encode renders c with its auths re-encoded and all else as read.
func (c *configFile) encode() ([]byte, error) {
	out := make(map[string]json.RawMessage, len(c.raw)+1)
	for k, v := range c.raw {
		out[k] = v
	}
	auths, err := json.Marshal(c.auths)
	if err != nil {
		return nil, err
	}
	out["auths"] = auths
	data, err := json.MarshalIndent(out, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// authEntry is the part of an "auths" entry that holds credentials.
type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// credentialFields are the entry fields Save rewrites and Erase drops;
// anything else in an entry ("email", tool-specific keys) is preserved.
var credentialFields = []string{"auth", "username", "password", "identitytoken", "registrytoken"}

// normalizeHost maps a registry host or a config key ("https://host/v1/",
// "http://host:5000", "Host") to the host it names; every Docker Hub alias
// becomes dockerHubHost.
func normalizeHost(s string) string {
	h := strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return dockerHubHost
	}
	return h
}

// canonicalKey is the key docker itself would write for host.
func canonicalKey(host string) string {
	h := normalizeHost(host)
	if h == dockerHubHost {
		return dockerHubKey
	}
	return h
}

// matchingKeys returns the keys of m naming host: the canonical key first,
// then any other spelling of the same host in sorted order, so lookups are
// deterministic when a file has several.
func matchingKeys[V any](m map[string]V, host string) []string {
	want := normalizeHost(host)
	canon := canonicalKey(host)
	var keys []string
	if _, ok := m[canon]; ok {
		keys = append(keys, canon)
	}
	var others []string
	for k := range m {
		if k != canon && normalizeHost(k) == want {
			others = append(others, k)
		}
	}
	sort.Strings(others)
	return append(keys, others...)
}

// writeFileAtomic replaces path with data so that readers see the old or
// the new file, never a torn one: temp file in the same directory, fsync,
// rename, fsync of the directory. A symlinked config.json (dotfile repos)
// stays a symlink: its target is replaced instead.
func writeFileAtomic(path string, data []byte) error {
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fileErrCategory(err)
	}
	tmp, err := os.CreateTemp(dir, ".config.json.tmp-*")
	if err != nil {
		return fileErrCategory(err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fileErrCategory(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fileErrCategory(err)
	}
	if err := tmp.Sync(); err != nil {
		return fileErrCategory(err)
	}
	if err := tmp.Close(); err != nil {
		return fileErrCategory(err)
	}
	if err := os.Rename(tmpName, target); err != nil {
		return fileErrCategory(err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is done either way
		_ = d.Close()
	}
	return nil
}

// fileErrCategory wraps a filesystem error in an errdefs category.
func fileErrCategory(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %w", errdefs.ErrDenied, err)
	}
	return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
}
