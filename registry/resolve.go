package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// Resolve returns the descriptor of the manifest ref names in its registry
// (asking for the media types in accept): its media type, digest and size.
// It asks with a HEAD, and takes the registry's Docker-Content-Digest
// there; a registry whose HEAD gives no digest (or that has no HEAD, 405)
// is asked with a GET instead, and the digest is that of the bytes it
// serves, which must agree with the registry's header if it sends one.
// When ref pins a digest, the registry's answer must be that digest (HEAD)
// or hash to it (GET); otherwise errdefs.ErrDigestMismatch. The digest of
// a HEAD is the registry's word: what a later GET serves is for its caller
// to verify. Size is -1 when a HEAD gives no Content-Length.
func (c *Client) Resolve(ctx context.Context, ref reference.Reference, accept []string) (ocispec.Descriptor, error) {
	desc, err := c.resolve(ctx, ref, accept)
	if err != nil {
		return ocispec.Descriptor{}, manifestError("resolve", ref, err)
	}
	return desc, nil
}

// manifestError is the one line for a failure to read ref's manifest
// (verb: what was being done), saying "not found" outright: a HEAD's 404
// carries no error body to say it.
func manifestError(verb string, ref reference.Reference, err error) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("%s %s: manifest not found: %w", verb, ref, err)
	}
	return fmt.Errorf("%s %s: %w", verb, ref, err)
}

func (c *Client) resolve(ctx context.Context, ref reference.Reference, accept []string) (ocispec.Descriptor, error) {
	head, err := c.HeadManifest(ctx, ref, accept)
	var re *Error
	switch {
	case err == nil && head.Digest != "" && (ref.Digest() == "" || head.Digest.Algorithm() == ref.Digest().Algorithm()):
		if want := ref.Digest(); want != "" && head.Digest != want {
			return ocispec.Descriptor{}, fmt.Errorf("the registry answers with digest %s: %w", head.Digest, errdefs.ErrDigestMismatch)
		}
		return head, nil
	case err == nil, errors.As(err, &re) && (re.StatusCode == http.StatusMethodNotAllowed || re.StatusCode == http.StatusNotImplemented):
	default:
		return ocispec.Descriptor{}, err
	}
	m, err := c.GetManifest(ctx, ref, accept)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d, err := m.digest(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(m.Body))}, nil
}

// digest is the verified digest of m, fetched as ref: ref's own when it
// pins one, else the digest of Body in the algorithm of the registry's
// header (sha256 without one), which must then match the header.
func (m *Manifest) digest(ref reference.Reference) (digest.Digest, error) {
	if want := ref.Digest(); want != "" {
		return want, m.Verify(want)
	}
	alg := digest.Canonical
	if m.Digest != "" && m.Digest.Algorithm().Available() {
		alg = m.Digest.Algorithm()
	}
	got := alg.FromBytes(m.Body)
	if m.Digest != "" && m.Digest != got {
		return "", fmt.Errorf("the registry says its digest is %s, its bytes hash to %s: %w", m.Digest, got, errdefs.ErrDigestMismatch)
	}
	return got, nil
}
