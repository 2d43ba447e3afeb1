package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/imagec/imagec/errdefs"
)

// DefaultPolicyPath is where containers tools (podman, skopeo, buildah)
// keep their policy; imagec only ever reads it.
const DefaultPolicyPath = "/etc/containers/policy.json"

// maxPolicySize bounds a policy file and the key files it names; real ones
// are a few KiB.
const maxPolicySize = 1 << 20

// Policy is a trust policy in the containers-policy.json(5) form: a default
// and, per transport, requirements by scope. imagec reads the "docker"
// transport (registries) and the default; the other transports' entries
// (docker-daemon, oci, ...) are kept out of the way unread, so a system
// policy written for podman loads as it is.
type Policy struct {
	// Default applies where no scope of the docker transport matches.
	Default []Requirement
	// Docker are the docker transport's scopes: "" (the transport's
	// default), a registry host, host/namespace, host/repository or
	// host/repository:tag (or @digest), and *.domain wildcards.
	Docker map[string][]Requirement
}

// Kind is a requirement's type.
type Kind string

const (
	// AcceptAnything accepts any image, signed or not.
	AcceptAnything Kind = "insecureAcceptAnything"
	// Reject refuses every image.
	Reject Kind = "reject"
	// SigstoreSigned requires a sigstore (cosign) signature.
	SigstoreSigned Kind = "sigstoreSigned"
)

// Requirement is one entry of a scope's list; an image must meet every
// entry of the list that applies to it.
type Requirement struct {
	Kind Kind
	// Trust is what a SigstoreSigned signature must verify against.
	Trust *Trust
	// Identity is how the signed reference must relate to the pulled one.
	Identity Identity
}

// LoadPolicy reads the policy file at path. Relative key and CA paths in
// it are relative to the file's directory. Errors name the file and wrap
// errdefs.ErrInvalidArgument (or ErrUnsupported for a requirement imagec
// cannot check, such as GPG's signedBy in the docker transport).
func LoadPolicy(path string) (*Policy, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	p, err := ParsePolicy(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes a policy; dir resolves relative paths in it.
func ParsePolicy(data []byte, dir string) (*Policy, error) {
	var doc struct {
		Default    []json.RawMessage                       `json:"default"`
		Transports map[string]map[string][]json.RawMessage `json:"transports"`
	}
	if err := strictDecode(data, &doc); err != nil {
		return nil, invalid("", err)
	}
	if doc.Default == nil {
		// containers/image refuses a policy without a default: an
		// omission must not read as "accept".
		return nil, invalid("default", errors.New("missing (use [{\"type\":\"reject\"}] to refuse what no scope names)"))
	}
	p := &Policy{Docker: map[string][]Requirement{}}
	var err error
	if p.Default, err = parseRequirements("default", doc.Default, dir); err != nil {
		return nil, err
	}
	for scope, raw := range doc.Transports["docker"] {
		key := fmt.Sprintf("transports.docker[%q]", scope)
		if err := checkScope(scope); err != nil {
			return nil, invalid(key, err)
		}
		if p.Docker[scope], err = parseRequirements(key, raw, dir); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func parseRequirements(key string, raw []json.RawMessage, dir string) ([]Requirement, error) {
	if len(raw) == 0 {
		return nil, invalid(key, errors.New("an empty list (containers tools refuse it; say reject or insecureAcceptAnything)"))
	}
	out := make([]Requirement, 0, len(raw))
	for i, r := range raw {
		req, err := parseRequirement(r, dir)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		out = append(out, req)
	}
	return out, nil
}

// sigstoreDoc is a sigstoreSigned requirement as written.
type sigstoreDoc struct {
	Type                string          `json:"type"`
	KeyPath             string          `json:"keyPath"`
	KeyPaths            []string        `json:"keyPaths"`
	KeyData             string          `json:"keyData"`
	KeyDatas            []string        `json:"keyDatas"`
	Fulcio              *fulcioDoc      `json:"fulcio"`
	RekorPublicKeyPath  string          `json:"rekorPublicKeyPath"`
	RekorPublicKeyPaths []string        `json:"rekorPublicKeyPaths"`
	RekorPublicKeyData  string          `json:"rekorPublicKeyData"`
	RekorPublicKeyDatas []string        `json:"rekorPublicKeyDatas"`
	SignedIdentity      json.RawMessage `json:"signedIdentity"`
}

type fulcioDoc struct {
	CAPath       string `json:"caPath"`
	CAData       string `json:"caData"`
	OIDCIssuer   string `json:"oidcIssuer"`
	SubjectEmail string `json:"subjectEmail"`
}

func parseRequirement(raw json.RawMessage, dir string) (Requirement, error) {
	var head struct {
		Type Kind `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return Requirement{}, invalid("", err)
	}
	switch head.Type {
	case AcceptAnything, Reject:
		var only struct {
			Type string `json:"type"`
		}
		if err := strictDecode(raw, &only); err != nil {
			return Requirement{}, invalid("", err)
		}
		return Requirement{Kind: head.Type}, nil
	case SigstoreSigned:
	case "signedBy", "signedBaseLayer":
		return Requirement{}, fmt.Errorf("requirement type %q: imagec checks sigstore signatures only: %w", head.Type, errdefs.ErrUnsupported)
	default:
		return Requirement{}, invalid("", fmt.Errorf("unknown requirement type %q", head.Type))
	}
	var doc sigstoreDoc
	if err := strictDecode(raw, &doc); err != nil {
		return Requirement{}, invalid("", err)
	}
	trust, err := doc.trust(dir)
	if err != nil {
		return Requirement{}, err
	}
	id, err := parseIdentity(doc.SignedIdentity)
	if err != nil {
		return Requirement{}, invalid("signedIdentity", err)
	}
	return Requirement{Kind: SigstoreSigned, Trust: trust, Identity: id}, nil
}

// trust reads the keys and CA certificates a sigstoreSigned requirement
// names. Exactly one of the key fields and fulcio must be given, as
// containers/image requires; fulcio needs a Rekor key, since a short-lived
// certificate proves nothing without the log's word on when it signed.
func (d sigstoreDoc) trust(dir string) (*Trust, error) {
	keys, err := pemSources(dir, "key", d.KeyPath, d.KeyPaths, d.KeyData, d.KeyDatas)
	if err != nil {
		return nil, err
	}
	rekor, err := pemSources(dir, "rekorPublicKey", d.RekorPublicKeyPath, d.RekorPublicKeyPaths, d.RekorPublicKeyData, d.RekorPublicKeyDatas)
	if err != nil {
		return nil, err
	}
	t := &Trust{}
	for _, k := range rekor {
		pub, err := ParsePublicKey(k)
		if err != nil {
			return nil, invalid("rekorPublicKey", err)
		}
		t.RekorKeys = append(t.RekorKeys, pub)
	}
	switch {
	case len(keys) > 0 && d.Fulcio != nil:
		return nil, invalid("", errors.New("both a key and fulcio: give one"))
	case len(keys) > 0:
		for _, k := range keys {
			pub, err := ParsePublicKey(k)
			if err != nil {
				return nil, invalid("key", err)
			}
			t.Keys = append(t.Keys, pub)
		}
		return t, nil
	case d.Fulcio != nil:
		return t, d.Fulcio.into(t, dir)
	}
	return nil, invalid("", errors.New("sigstoreSigned needs keyPath, keyPaths, keyData, keyDatas or fulcio"))
}

func (f fulcioDoc) into(t *Trust, dir string) error {
	ca, err := pemSources(dir, "fulcio.ca", f.CAPath, nil, f.CAData, nil)
	if err != nil {
		return err
	}
	if len(ca) == 0 || f.OIDCIssuer == "" || f.SubjectEmail == "" {
		return invalid("fulcio", errors.New("caPath or caData, oidcIssuer and subjectEmail are all required"))
	}
	if len(t.RekorKeys) == 0 {
		return invalid("fulcio", errors.New("needs rekorPublicKeyPath or rekorPublicKeyData: a Fulcio certificate is only checked with the log's timestamp"))
	}
	if t.FulcioRoots, err = ParseCertificates(ca[0]); err != nil {
		return invalid("fulcio.ca", err)
	}
	t.Issuer, t.Subject = f.OIDCIssuer, f.SubjectEmail
	return nil
}

// pemSources reads the PEM documents of a field given as a path, paths,
// base64 data or a list of data: at most one form may be used.
func pemSources(dir, name, path string, paths []string, data string, datas []string) ([][]byte, error) {
	forms := 0
	for _, set := range []bool{path != "", paths != nil, data != "", datas != nil} {
		if set {
			forms++
		}
	}
	if forms > 1 {
		return nil, invalid(name, errors.New("given in more than one form (Path, Paths, Data, Datas)"))
	}
	if path != "" {
		paths = []string{path}
	}
	if data != "" {
		datas = []string{data}
	}
	var out [][]byte
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := readSmall(p)
		if err != nil {
			return nil, invalid(name, err)
		}
		out = append(out, b)
	}
	for _, d := range datas {
		b, err := base64.StdEncoding.DecodeString(d)
		if err != nil {
			return nil, invalid(name+"Data", fmt.Errorf("not base64: %v", err))
		}
		out = append(out, b)
	}
	return out, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPolicySize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPolicySize {
		return nil, fmt.Errorf("%s is over %d bytes: %w", path, maxPolicySize, errdefs.ErrTooLarge)
	}
	return b, nil
}

// strictDecode decodes one JSON value into v, refusing unknown fields (a
// misspelt keyPath must not silently weaken a requirement) and trailing
// data.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// invalid names the key at fault (if any) and marks err as bad input.
func invalid(key string, err error) error {
	if key == "" {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %w: %w", key, err, errdefs.ErrInvalidArgument)
}
