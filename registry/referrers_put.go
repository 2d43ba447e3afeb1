package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
)

// PutReferrer uploads body, a manifest or index of mediaType whose subject
// field names another manifest (a signature, an SBOM), to ref's
// repository by its digest (PutManifest's rules), and sees that it is
// listed among the subject's referrers. A registry with the referrers API
// lists it itself and says so with the OCI-Subject header; for one that
// does not (no header), the index under the subject's FallbackTag is read,
// given the descriptor and written back, as the distribution spec's tag
// schema asks of clients. That update is a read and a write another client
// may race, as with every client of the schema. The subject must be in the
// repository first. It returns body's descriptor as a referrers list gives
// it and whether the tag schema was used; a body without a subject is
// errdefs.ErrInvalidArgument.
func (c *Client) PutReferrer(ctx context.Context, ref reference.Reference, mediaType string, body []byte) (ocispec.Descriptor, bool, error) {
	desc, err := manifestDescriptor(ref, mediaType, body)
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("push referrer to %s: %w", ref.Name(), err)
	}
	r, ok, err := manifest.ReadReferrer(desc, body)
	if err == nil && !ok {
		err = fmt.Errorf("%s names no subject: %w", desc.Digest, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("push referrer to %s: %w", ref.Name(), err)
	}
	_, header, err := c.putManifest(ctx, ref.WithDigest(desc.Digest), mediaType, body)
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	if strings.TrimSpace(header.Get("OCI-Subject")) == r.Subject.Digest.String() {
		return r.Listed, false, nil
	}
	if err := c.addToFallbackTag(ctx, ref.WithDigest(r.Subject.Digest), r.Listed); err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("push referrer %s to %s: %w", desc.Digest, ref.Name(), err)
	}
	return r.Listed, true, nil
}

// addToFallbackTag adds listed to the tag schema's index of subject (which
// ref pins), creating it, unless the index already lists its digest.
func (c *Client) addToFallbackTag(ctx context.Context, subject reference.Reference, listed ocispec.Descriptor) error {
	tag := subject.WithTag(FallbackTag(subject.Digest()))
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	m, err := c.GetManifest(ctx, tag, []string{ocispec.MediaTypeImageIndex})
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
	case err != nil:
		return fmt.Errorf("reading the fallback tag %s: %w", tag.Tag(), err)
	default:
		if err := json.Unmarshal(m.Body, &idx); err != nil {
			return fmt.Errorf("fallback tag %s is not an index: %v: %w", tag.Tag(), err, errdefs.ErrInvalidArgument)
		}
		idx.SchemaVersion, idx.MediaType = 2, ocispec.MediaTypeImageIndex
	}
	for _, d := range idx.Manifests {
		if d.Digest == listed.Digest {
			return nil
		}
	}
	if len(idx.Manifests) >= MaxReferrers {
		return fmt.Errorf("fallback tag %s lists %d referrers already: %w", tag.Tag(), len(idx.Manifests), errdefs.ErrTooLarge)
	}
	idx.Manifests = append(idx.Manifests, listed)
	body, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	_, err = c.PutManifest(ctx, tag, ocispec.MediaTypeImageIndex, body)
	return err
}
