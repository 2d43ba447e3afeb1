package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

const (
	// maxReferrersPage bounds one page of a referrers list, as a manifest.
	maxReferrersPage = MaxManifestSize
	// MaxReferrers bounds a whole referrers list however it is paged: a
	// subject with more signatures and attestations than this is not one a
	// client should follow, and a registry handing out next links for ever
	// cannot hold a caller for ever.
	MaxReferrers = 4096
)

// ReferrerList is what a registry lists as the referrers of a subject:
// the manifests whose subject field names it (signatures, SBOMs,
// attestations), per the OCI distribution spec 1.1.
type ReferrerList struct {
	// Manifests are the registry's descriptors, in its order: media type,
	// digest, size, artifact type and annotations. They are UNVERIFIED:
	// only the manifest fetched by its digest says what a referrer is.
	Manifests []ocispec.Descriptor
	// TagSchema is set when the registry has no referrers API (404), so
	// the list is the index under the sha256-<hex> fallback tag (or empty
	// when there is no such tag).
	TagSchema bool
}

// ReferrersOption configures Referrers.
type ReferrersOption func(*referrersOptions)

type referrersOptions struct {
	artifactType string
}

// ReferrersArtifactType keeps only referrers of artifact type t, asked of
// the registry (?artifactType=) and applied here when the registry did
// not (the tag schema never does). Default "": every referrer.
func ReferrersArtifactType(t string) ReferrersOption {
	return func(o *referrersOptions) { o.artifactType = t }
}

// Referrers lists the referrers of the manifest ref pins by digest (a ref
// without one is errdefs.ErrInvalidArgument): GET
// /v2/<name>/referrers/<digest>, then every page its Link header leads to
// on the same host, each page one operation of the retry policy and at
// most 4 MiB, MaxReferrers in all (errdefs.ErrTooLarge). A registry that
// answers 404 has no referrers API (the spec forbids a 404 from one that
// has it), so the index tagged FallbackTag(digest) is read instead, and a
// missing tag means no referrers. Descriptors are returned as the registry
// wrote them: a printer escapes their annotations.
func (c *Client) Referrers(ctx context.Context, ref reference.Reference, opts ...ReferrersOption) (*ReferrerList, error) {
	var o referrersOptions
	for _, opt := range opts {
		opt(&o)
	}
	subject := ref.Digest()
	if subject == "" {
		return nil, fmt.Errorf("referrers of %s: a digest is needed, not a tag: %w", ref, errdefs.ErrInvalidArgument)
	}
	list, err := c.referrersAPI(ctx, ref, o)
	var re *Error
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		list, err = c.referrersTag(ctx, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", ref, err)
	}
	if o.artifactType != "" {
		list.Manifests = filterArtifactType(list.Manifests, o.artifactType)
	}
	return list, nil
}

// referrersAPI reads the referrers API's pages. Referrers filters them
// again: a registry may ignore the artifactType query (it says so in
// OCI-Filters-Applied, which is simpler to not trust either way).
func (c *Client) referrersAPI(ctx context.Context, ref reference.Reference, o referrersOptions) (*ReferrerList, error) {
	host := ref.Host()
	next, err := c.endpoint(ctx, host, "/v2/"+ref.Path()+"/referrers/"+ref.Digest().String())
	if err != nil {
		return nil, err
	}
	if o.artifactType != "" {
		next += "?artifactType=" + url.QueryEscape(o.artifactType)
	}
	header := http.Header{"Accept": {ocispec.MediaTypeImageIndex}}
	list := &ReferrerList{}
	seen := map[string]bool{}
	for next != "" {
		if seen[next] {
			return nil, fmt.Errorf("next link %s repeats a page: %w", redactURL(next), errdefs.ErrInvalidArgument)
		}
		seen[next] = true
		resp, body, err := c.getSmall(ctx, host, next, header, maxReferrersPage, "a page of referrers")
		if err != nil {
			return nil, err
		}
		page, err := decodeReferrers(body)
		if err != nil {
			return nil, err
		}
		if len(list.Manifests)+len(page) > MaxReferrers {
			return nil, fmt.Errorf("more than %d referrers: %w", MaxReferrers, errdefs.ErrTooLarge)
		}
		list.Manifests = append(list.Manifests, page...)
		link, err := nextLink(resp, next)
		if err != nil {
			return nil, err
		}
		if link != "" && len(page) == 0 {
			return nil, fmt.Errorf("an empty page links to another: %w", errdefs.ErrInvalidArgument)
		}
		next = link
	}
	return list, nil
}

// referrersTag reads the tag schema's index, for a registry without the
// referrers API.
func (c *Client) referrersTag(ctx context.Context, ref reference.Reference) (*ReferrerList, error) {
	tag := ref.WithTag(FallbackTag(ref.Digest()))
	m, err := c.GetManifest(ctx, tag, []string{ocispec.MediaTypeImageIndex})
	if errors.Is(err, errdefs.ErrNotFound) {
		return &ReferrerList{TagSchema: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("no referrers API, and the fallback tag %s: %w", tag.Tag(), err)
	}
	page, err := decodeReferrers(m.Body)
	if err != nil {
		return nil, fmt.Errorf("fallback tag %s: %w", tag.Tag(), err)
	}
	if len(page) > MaxReferrers {
		return nil, fmt.Errorf("fallback tag %s: more than %d referrers: %w", tag.Tag(), MaxReferrers, errdefs.ErrTooLarge)
	}
	return &ReferrerList{Manifests: page, TagSchema: true}, nil
}

// decodeReferrers reads an image index listing referrers. Descriptors a
// client could not fetch by (a malformed digest, a negative size) make the
// whole answer malformed.
func decodeReferrers(body []byte) ([]ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, fmt.Errorf("not a referrers index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if idx.MediaType != "" && idx.MediaType != ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("referrers list of media type %q, not an OCI index: %w", idx.MediaType, errdefs.ErrInvalidArgument)
	}
	for i, d := range idx.Manifests {
		if err := d.Digest.Validate(); err != nil || d.Size < 0 {
			return nil, fmt.Errorf("referrers list: manifests[%d]: digest %q, size %d: %w", i, d.Digest, d.Size, errdefs.ErrInvalidArgument)
		}
	}
	return idx.Manifests, nil
}

func filterArtifactType(in []ocispec.Descriptor, t string) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, 0, len(in))
	for _, d := range in {
		if d.ArtifactType == t {
			out = append(out, d)
		}
	}
	return out
}

// FallbackTag is the tag under which the referrers of subject are listed
// in a registry without the referrers API (the distribution spec's
// referrers tag schema): <alg>-<hex>, the algorithm cut to 32 characters
// and the hex to 64, so it is a valid tag for any digest.
func FallbackTag(subject digest.Digest) string {
	alg := string(subject.Algorithm())
	hex := subject.Encoded()
	if len(alg) > 32 {
		alg = alg[:32]
	}
	if len(hex) > 64 {
		hex = hex[:64]
	}
	return strings.Map(tagRune, alg) + "-" + hex
}

// tagRune keeps the characters a tag allows and maps others to "-", as the
// schema's truncated algorithm must still be a tag.
func tagRune(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
		return r
	}
	return '-'
}
