package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// PutManifest uploads body, a manifest or index of media type mediaType
// (sent as its Content-Type), to ref: under ref's tag, or by digest when
// ref pins one, which body must hash to. The registry receives body byte
// for byte, so the digest it stores is the digest of body; when it reports
// one (Docker-Content-Digest) that is checked. The blobs body refers to
// must be in the repository first (PushBlob). It returns body's
// descriptor: mediaType, its digest (sha256, or the algorithm of ref's
// digest) and its size.
//
// The PUT is retried under the client's retry policy like a manifest GET
// (it is idempotent). Errors are one line naming ref, with the categories
// of a push (see PushBlob); a manifest the registry refuses
// (MANIFEST_INVALID, MANIFEST_BLOB_UNKNOWN, TAG_INVALID) wraps
// errdefs.ErrInvalidArgument, a body over MaxManifestSize ErrTooLarge.
func (c *Client) PutManifest(ctx context.Context, ref reference.Reference, mediaType string, body []byte) (ocispec.Descriptor, error) {
	desc, _, err := c.putManifest(ctx, ref, mediaType, body)
	return desc, err
}

// putManifest is PutManifest, returning the response's headers too.
func (c *Client) putManifest(ctx context.Context, ref reference.Reference, mediaType string, body []byte) (ocispec.Descriptor, http.Header, error) {
	what := "push manifest to " + ref.String()
	desc, err := manifestDescriptor(ref, mediaType, body)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: %w", what, err)
	}
	host := ref.Host()
	u, err := c.endpoint(ctx, host, manifestPath(ref))
	if err != nil {
		return ocispec.Descriptor{}, nil, writeError(what, err)
	}
	header := http.Header{}
	header.Set("Content-Type", mediaType)
	b := c.newBudget()
	resp, err := c.retry(ctx, host, &b, func(s int) bool { return s >= 200 && s <= 299 }, func(ctx context.Context) (*http.Response, error) {
		return c.sendBody(ctx, c.api, http.MethodPut, u, header, bytesPayload(body))
	})
	if err != nil {
		return ocispec.Descriptor{}, nil, writeError(what, err)
	}
	discard(resp.Body)
	if got := headerDigest(resp.Header); got != "" && got.Algorithm().Available() && got != got.Algorithm().FromBytes(body) {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s: the registry stored %s, the manifest sent hashes to %s: %w",
			what, got, got.Algorithm().FromBytes(body), errdefs.ErrDigestMismatch)
	}
	return desc, resp.Header, nil
}

// manifestDescriptor checks what PutManifest is asked to send and
// describes it.
func manifestDescriptor(ref reference.Reference, mediaType string, body []byte) (ocispec.Descriptor, error) {
	if mediaType == "" {
		return ocispec.Descriptor{}, fmt.Errorf("no media type: %w", errdefs.ErrInvalidArgument)
	}
	if len(body) > MaxManifestSize {
		return ocispec.Descriptor{}, fmt.Errorf("manifest is %d bytes, over the %d byte limit: %w", len(body), MaxManifestSize, errdefs.ErrTooLarge)
	}
	d := digest.FromBytes(body)
	if want := ref.Digest(); want != "" {
		m := Manifest{Body: body}
		if err := m.Verify(want); err != nil {
			return ocispec.Descriptor{}, err
		}
		d = want
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(body))}, nil
}
