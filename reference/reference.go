// Package reference parses image references the way Docker does and answers
// the questions the rest of imagec asks of them: which registry host to dial,
// which repository to name in API paths, and what to fetch (tag or digest);
// and the address rules: which hosts are this machine or internal.
package reference

import (
	"fmt"
	"strings"

	dref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
)

const (
	// DockerHubDomain is the canonical domain of Docker Hub in references.
	DockerHubDomain = "docker.io"
	// DockerHubHost is the host that serves Docker Hub's v2 API.
	DockerHubHost = "registry-1.docker.io"
	// DefaultTag is added to a reference that names neither tag nor digest.
	DefaultTag = "latest"
)

// Reference is a normalized image reference. The zero value is not valid;
// build one with Parse.
type Reference struct {
	named  dref.Named
	tag    string
	digest digest.Digest
}

// Parse normalizes s as docker does: "alpine" becomes
// "docker.io/library/alpine:latest", "host:port/repo" keeps its host, and a
// reference carrying both tag and digest ("repo:tag@sha256:...") is fetched by
// its digest. Errors wrap errdefs.ErrInvalidArgument and name s.
func Parse(s string) (Reference, error) {
	if strings.TrimSpace(s) != s || s == "" {
		return Reference{}, fmt.Errorf("invalid reference %q: %w", s, errdefs.ErrInvalidArgument)
	}
	named, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid reference %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	r := Reference{named: dref.TrimNamed(named)}
	if t, ok := named.(dref.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := named.(dref.Digested); ok {
		r.digest = d.Digest()
		if err := r.digest.Validate(); err != nil {
			return Reference{}, fmt.Errorf("invalid reference %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
		}
	}
	if r.tag == "" && r.digest == "" {
		r.tag = DefaultTag
	}
	return r, nil
}

// MustParse is Parse for references known to be valid, such as constants in
// tests; it panics on error.
func MustParse(s string) Reference {
	r, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}

// Named returns the repository name as a distribution/reference value.
func (r Reference) Named() dref.Named { return r.named }

// Name is the full repository name: "docker.io/library/alpine".
func (r Reference) Name() string { return r.named.Name() }

// Domain is the registry part of the name: "docker.io", "localhost:5000".
func (r Reference) Domain() string { return dref.Domain(r.named) }

// Path is the repository path used in API URLs: "library/alpine".
func (r Reference) Path() string { return dref.Path(r.named) }

// Host is the host:port to dial for the registry API. Docker Hub's domain is
// served by registry-1.docker.io.
func (r Reference) Host() string { return RegistryHost(r.Domain()) }

// Tag is the tag, or "" when the reference names only a digest.
func (r Reference) Tag() string { return r.tag }

// Digest is the pinned digest, or "" when fetched by tag.
func (r Reference) Digest() digest.Digest { return r.digest }

// Identifier is what to ask the registry for: the digest when pinned (a
// digest always wins over a tag), otherwise the tag.
func (r Reference) Identifier() string {
	if r.digest != "" {
		return r.digest.String()
	}
	return r.tag
}

// String is the full normalized form. When a digest is pinned the tag is
// dropped, because that is what was fetched and what is recorded:
// "docker.io/library/alpine:latest" or "docker.io/library/alpine@sha256:...".
func (r Reference) String() string {
	if r.named == nil {
		return ""
	}
	if r.digest != "" {
		return r.Name() + "@" + r.digest.String()
	}
	return r.Name() + ":" + r.tag
}

// Familiar is the short form docker prints: "alpine:latest".
func (r Reference) Familiar() string {
	if r.named == nil {
		return ""
	}
	name := dref.FamiliarName(r.named)
	if r.digest != "" {
		return name + "@" + r.digest.String()
	}
	return name + ":" + r.tag
}

// FamiliarName is the repository as docker prints it: "alpine",
// "localhost:5000/samples/hello".
func (r Reference) FamiliarName() string {
	if r.named == nil {
		return ""
	}
	return dref.FamiliarName(r.named)
}

// WithDigest returns the same repository pinned to d, without a tag.
func (r Reference) WithDigest(d digest.Digest) Reference {
	return Reference{named: r.named, digest: d}
}

// WithTag returns the same repository with tag t and no digest.
func (r Reference) WithTag(t string) Reference {
	return Reference{named: r.named, tag: t}
}

// RegistryHost maps a reference domain to the host serving its API.
func RegistryHost(domain string) string {
	if domain == DockerHubDomain || domain == "index.docker.io" {
		return DockerHubHost
	}
	return domain
}
