package credentials

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry/auth"
)

// Store is a docker config.json and the credential helpers it names. It is
// safe for concurrent use.
type Store struct {
	path string

	mu  sync.Mutex
	cfg *configFile
	// helperCache remembers helper answers by normalized host, including
	// "nothing": running a helper costs a process spawn, and a pull asks once
	// per token fetch. Save and Erase invalidate the host's entry.
	helperCache map[string]helperAnswer
}

type helperAnswer struct {
	cred  auth.Credential
	found bool
}

// Load reads the config file at path. A missing file, or path "", is an
// empty store (not an error); Save creates the file.
func Load(path string) (*Store, error) {
	cfg, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return &Store{path: path, cfg: cfg, helperCache: map[string]helperAnswer{}}, nil
}

// Path returns the file the store reads and writes.
func (s *Store) Path() string { return s.path }

// CredentialFunc adapts the store to auth.CredentialFunc.
func (s *Store) CredentialFunc() auth.CredentialFunc { return s.Get }

// Get returns the credential for a registry host ("registry-1.docker.io",
// "localhost:5000"), looking where docker looks: the credHelpers helper for
// the host, then the credsStore helper, then the "auths" entry. A helper
// that holds nothing passes the lookup on to the next place. An empty
// Credential and nil error mean there is none.
func (s *Store) Get(ctx context.Context, host string) (auth.Credential, error) {
	key := normalizeHost(host)
	s.mu.Lock()
	cfg := s.cfg
	cached, hit := s.helperCache[key]
	s.mu.Unlock()
	if hit && cached.found {
		return cached.cred, nil
	}
	if !hit {
		c, found, err := s.fromHelpers(ctx, cfg, host)
		if err != nil {
			return auth.Credential{}, err
		}
		s.mu.Lock()
		s.helperCache[key] = helperAnswer{cred: c, found: found}
		s.mu.Unlock()
		if found {
			return c, nil
		}
	}
	return fileCredential(cfg, host)
}

// fromHelpers asks the helpers that apply to host in turn.
func (s *Store) fromHelpers(ctx context.Context, cfg *configFile, host string) (auth.Credential, bool, error) {
	serverURL := helperServerURL(cfg, host)
	for _, helper := range helpersFor(cfg, host) {
		c, err := helperGet(ctx, helper, serverURL)
		if errors.Is(err, errHelperNotFound) || err == nil && c.Empty() {
			continue
		}
		if err != nil {
			return auth.Credential{}, false, fmt.Errorf("credentials for %s: %w", host, err)
		}
		return c, true, nil
	}
	return auth.Credential{}, false, nil
}

// helpersFor lists the helpers to ask for host, in docker's order.
func helpersFor(cfg *configFile, host string) []string {
	var hs []string
	if keys := matchingKeys(cfg.credHelpers, host); len(keys) > 0 && cfg.credHelpers[keys[0]] != "" {
		hs = append(hs, cfg.credHelpers[keys[0]])
	}
	if cfg.credsStore != "" && (len(hs) == 0 || hs[0] != cfg.credsStore) {
		hs = append(hs, cfg.credsStore)
	}
	return hs
}

// helperServerURL is the server URL a helper knows host by: the key of an
// existing auths entry (docker logs in under that spelling), else the key
// docker would use.
func helperServerURL(cfg *configFile, host string) string {
	if keys := matchingKeys(cfg.auths, host); len(keys) > 0 {
		return keys[0]
	}
	return canonicalKey(host)
}

// fileCredential reads host's credential from the "auths" entries.
func fileCredential(cfg *configFile, host string) (auth.Credential, error) {
	for _, k := range matchingKeys(cfg.auths, host) {
		var e authEntry
		if err := json.Unmarshal(cfg.auths[k], &e); err != nil {
			return auth.Credential{}, fmt.Errorf("docker config entry %q is not a credential object: %w", k, errdefs.ErrInvalidArgument)
		}
		c := auth.Credential{
			Username: e.Username, Password: e.Password,
			IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken,
		}
		if e.Auth != "" {
			user, pass, err := decodeAuth(e.Auth)
			if err != nil {
				return auth.Credential{}, fmt.Errorf("docker config entry %q: %w", k, err)
			}
			c.Username, c.Password = user, pass
		}
		if !c.Empty() {
			return c, nil
		}
	}
	return auth.Credential{}, nil
}

// decodeAuth splits an "auth" field, base64 of "user:password". Errors never
// include the field.
func decodeAuth(field string) (user, pass string, err error) {
	field = strings.TrimSpace(field)
	raw, err := base64.StdEncoding.DecodeString(field)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(field)
	}
	if err != nil {
		return "", "", fmt.Errorf("\"auth\" is not base64: %w", errdefs.ErrInvalidArgument)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("\"auth\" is not user:password: %w", errdefs.ErrInvalidArgument)
	}
	return user, strings.Trim(pass, "\x00"), nil
}

// Save stores c for host: through the credHelpers or credsStore helper when
// one applies (the file then keeps an empty entry, as docker does, and
// loses any plaintext copy), else in "auths" as base64 "auth" plus
// "identitytoken"/"registrytoken". The file is re-read first so concurrent
// edits by other tools survive, every field imagec does not manage is
// written back unchanged, and the write is atomic with mode 0600 in a
// directory created 0700.
func (s *Store) Save(ctx context.Context, host string, c auth.Credential) error {
	if c.Empty() {
		return fmt.Errorf("saving credentials for %s: credential is empty: %w", host, errdefs.ErrInvalidArgument)
	}
	if strings.Contains(c.Username, ":") {
		return fmt.Errorf("saving credentials for %s: username contains ':': %w", host, errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.reloadLocked()
	if err != nil {
		return err
	}
	key := helperServerURL(cfg, host)
	entry := map[string]json.RawMessage{}
	if old, ok := cfg.auths[key]; ok {
		_ = json.Unmarshal(old, &entry) // not an object: replace it
		if entry == nil {
			entry = map[string]json.RawMessage{}
		}
	}
	for _, f := range credentialFields {
		delete(entry, f)
	}
	if helpers := helpersFor(cfg, host); len(helpers) > 0 {
		if c.RegistryToken != "" {
			return fmt.Errorf("saving credentials for %s: credential helper %s%s cannot hold a registry token: %w",
				host, helperPrefix, helpers[0], errdefs.ErrUnsupported)
		}
		if err := helperStore(ctx, helpers[0], key, c); err != nil {
			return fmt.Errorf("saving credentials for %s: %w", host, err)
		}
	} else {
		if c.Username != "" || c.Password != "" {
			entry["auth"] = jsonString(base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password)))
		}
		if c.IdentityToken != "" {
			entry["identitytoken"] = jsonString(c.IdentityToken)
		}
		if c.RegistryToken != "" {
			entry["registrytoken"] = jsonString(c.RegistryToken)
		}
	}
	enc, err := json.Marshal(entry)
	if err != nil {
		return fmt.Errorf("saving credentials for %s: %w", host, errdefs.ErrInvalidArgument)
	}
	cfg.auths[key] = enc
	delete(s.helperCache, normalizeHost(host))
	return s.writeLocked(cfg, host)
}

// Erase removes host's credentials: from the helper that applies and every
// "auths" entry naming the host. It returns an error wrapping
// errdefs.ErrNotFound when there were none.
func (s *Store) Erase(ctx context.Context, host string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.reloadLocked()
	if err != nil {
		return err
	}
	found := false
	if helpers := helpersFor(cfg, host); len(helpers) > 0 {
		err := helperErase(ctx, helpers[0], helperServerURL(cfg, host))
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, errHelperNotFound):
			return fmt.Errorf("erasing credentials for %s: %w", host, err)
		}
	}
	keys := matchingKeys(cfg.auths, host)
	for _, k := range keys {
		delete(cfg.auths, k)
	}
	delete(s.helperCache, normalizeHost(host))
	if len(keys) > 0 {
		found = true
		if err := s.writeLocked(cfg, host); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("erasing credentials for %s: none stored: %w", host, errdefs.ErrNotFound)
	}
	return nil
}

// reloadLocked re-reads the file so a save starts from its current state.
func (s *Store) reloadLocked() (*configFile, error) {
	if s.path == "" {
		return nil, fmt.Errorf("no docker config path (home directory unknown): %w", errdefs.ErrInvalidArgument)
	}
	cfg, err := readConfig(s.path)
	if err != nil {
		return nil, err
	}
	s.cfg = cfg
	return cfg, nil
}

func (s *Store) writeLocked(cfg *configFile, host string) error {
	data, err := cfg.encode()
	if err != nil {
		return fmt.Errorf("encoding docker config %s: %w", s.path, errdefs.ErrInvalidArgument)
	}
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("writing docker config %s for %s: %w", s.path, host, err)
	}
	return nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
