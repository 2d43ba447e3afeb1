package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/imagec/imagec/reference"
)

// For returns the requirements that apply to ref and the scope they were
// found under ("default" for the policy's default). The most specific
// scope wins, as containers-policy.json(5) orders them: the reference
// with its tag or digest, the repository, each namespace above it, the
// registry host, wildcards *.domain from the longest domain down, then
// the transport's "" and last the default.
func (p *Policy) For(ref reference.Reference) (scope string, reqs []Requirement) {
	for _, s := range scopes(ref) {
		if r, ok := p.Docker[s]; ok {
			return s, r
		}
	}
	return "default", p.Default
}

// scopes lists the scopes that may name ref, most specific first.
func scopes(ref reference.Reference) []string {
	out := []string{ref.String()}
	repo := ref.Name()
	for {
		out = append(out, repo)
		i := strings.LastIndexByte(repo, '/')
		if i < 0 {
			break
		}
		repo = repo[:i]
	}
	host := ref.Domain()
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	for {
		i := strings.IndexByte(host, '.')
		if i < 0 {
			break
		}
		host = host[i+1:]
		out = append(out, "*."+host)
	}
	return append(out, "")
}

// checkScope refuses a scope that could never match: a wildcard other
// than a leading "*." label.
func checkScope(scope string) error {
	if strings.Contains(strings.TrimPrefix(scope, "*."), "*") {
		return errors.New("a wildcard is only allowed as a leading *. of a domain")
	}
	return nil
}

// IdentityKind is a signedIdentity's type.
type IdentityKind string

// The signedIdentity types imagec checks (remapIdentity is not one).
const (
	MatchRepoDigestOrExact IdentityKind = "matchRepoDigestOrExact"
	MatchRepository        IdentityKind = "matchRepository"
	MatchExact             IdentityKind = "matchExact"
	ExactReference         IdentityKind = "exactReference"
	ExactRepository        IdentityKind = "exactRepository"
)

// Identity is how the reference a signature vouches for (cosign's
// critical.identity.docker-reference) must relate to the reference pulled.
// A sigstore bundle vouches for a digest only, so only the legacy
// simple-signing form is held to it. The zero Identity checks nothing but
// the digest, as cosign verify does (a policy file always names one:
// matchRepoDigestOrExact when it says none).
type Identity struct {
	Kind IdentityKind
	// Reference is exactReference's dockerReference or exactRepository's
	// dockerRepository.
	Reference string
}

func parseIdentity(raw json.RawMessage) (Identity, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return Identity{Kind: MatchRepoDigestOrExact}, nil
	}
	var doc struct {
		Type             IdentityKind `json:"type"`
		DockerReference  string       `json:"dockerReference"`
		DockerRepository string       `json:"dockerRepository"`
	}
	if err := strictDecode(raw, &doc); err != nil {
		return Identity{}, err
	}
	switch doc.Type {
	case MatchRepoDigestOrExact, MatchRepository, MatchExact:
		return Identity{Kind: doc.Type}, nil
	case ExactReference:
		ref, err := reference.Parse(doc.DockerReference)
		if err != nil {
			return Identity{}, fmt.Errorf("dockerReference: %w", err)
		}
		return Identity{Kind: doc.Type, Reference: ref.String()}, nil
	case ExactRepository:
		ref, err := reference.Parse(doc.DockerRepository)
		if err != nil {
			return Identity{}, fmt.Errorf("dockerRepository: %w", err)
		}
		return Identity{Kind: doc.Type, Reference: ref.Name()}, nil
	}
	return Identity{}, fmt.Errorf("type %q: imagec checks matchRepoDigestOrExact, matchRepository, matchExact, exactReference and exactRepository", doc.Type)
}

// Matches reports whether a signature vouching for signed (a reference as
// cosign writes it, usually a repository without tag) is good for pulled.
func (id Identity) Matches(signed string, pulled reference.Reference) bool {
	s, err := reference.Parse(signed)
	if err != nil {
		return false
	}
	// cosign writes the repository alone: parsing it adds ":latest",
	// which the signer never said.
	bareRepo := !strings.Contains(signed[strings.LastIndexByte(signed, '/')+1:], ":") && !strings.Contains(signed, "@")
	switch id.Kind {
	case "":
		return true
	case MatchRepository:
		return s.Name() == pulled.Name()
	case ExactRepository:
		return s.Name() == id.Reference
	case ExactReference:
		return !bareRepo && s.String() == id.Reference
	case MatchExact:
		return !bareRepo && s.String() == pulled.String()
	default: // MatchRepoDigestOrExact
		if pulled.Digest() != "" {
			return s.Name() == pulled.Name()
		}
		return !bareRepo && s.String() == pulled.String()
	}
}
