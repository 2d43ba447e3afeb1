package registry

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// MaxManifestSize bounds manifest bodies, as registries do for uploads.
const MaxManifestSize = 4 << 20

// Manifest is a manifest as served.
type Manifest struct {
	// MediaType is the Content-Type without parameters.
	MediaType string
	Body      []byte
	// Digest is the Docker-Content-Digest header: UNVERIFIED, and "" when
	// absent or malformed. Verify Body against the digest you asked for.
	Digest digest.Digest
}

// GetManifest fetches ref's manifest (by digest when ref pins one, else by
// tag), asking for the media types in accept. Bodies over MaxManifestSize fail
// with errdefs.ErrTooLarge; registry errors are *Error.
func (c *Client) GetManifest(ctx context.Context, ref reference.Reference, accept []string) (*Manifest, error) {
	host := ref.Host()
	u, err := c.endpoint(ctx, host, manifestPath(ref))
	if err != nil {
		return nil, err
	}
	var body []byte
	b := c.newBudget()
	resp, err := c.retry(ctx, host, &b, isOK, func(ctx context.Context) (*http.Response, error) {
		resp, err := c.send(ctx, c.api, http.MethodGet, u, acceptHeader(accept))
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		// The body is read inside the attempt so a connection lost
		// mid-body is retried like one lost before the headers.
		defer resp.Body.Close()
		if resp.ContentLength > MaxManifestSize {
			return nil, fmt.Errorf("manifest %s is %d bytes, over the %d byte limit: %w",
				ref, resp.ContentLength, MaxManifestSize, errdefs.ErrTooLarge)
		}
		if body, err = readBounded(resp.Body, MaxManifestSize); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", ref, err)
		}
		return resp, nil
	})
	if err != nil {
		return nil, err
	}
	return &Manifest{
		MediaType: mediaType(resp.Header.Get("Content-Type")),
		Body:      body,
		Digest:    headerDigest(resp.Header),
	}, nil
}

// HeadManifest asks for ref's manifest metadata without its body: the
// descriptor's MediaType, Digest (the unverified Docker-Content-Digest
// header, "" if absent) and Size (Content-Length, -1 if absent).
func (c *Client) HeadManifest(ctx context.Context, ref reference.Reference, accept []string) (ocispec.Descriptor, error) {
	host := ref.Host()
	u, err := c.endpoint(ctx, host, manifestPath(ref))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	b := c.newBudget()
	resp, err := c.retry(ctx, host, &b, isOK, func(ctx context.Context) (*http.Response, error) {
		return c.send(ctx, c.api, http.MethodHead, u, acceptHeader(accept))
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	resp.Body.Close()
	return ocispec.Descriptor{
		MediaType: mediaType(resp.Header.Get("Content-Type")),
		Digest:    headerDigest(resp.Header),
		Size:      resp.ContentLength,
	}, nil
}

func manifestPath(ref reference.Reference) string {
	return "/v2/" + ref.Path() + "/manifests/" + ref.Identifier()
}

func isOK(status int) bool { return status == http.StatusOK }

func acceptHeader(accept []string) http.Header {
	h := http.Header{}
	if len(accept) > 0 {
		h.Set("Accept", strings.Join(accept, ", "))
	}
	return h
}

// mediaType strips parameters such as "; charset=utf-8".
func mediaType(contentType string) string {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

func headerDigest(h http.Header) digest.Digest {
	d, err := digest.Parse(strings.TrimSpace(h.Get("Docker-Content-Digest")))
	if err != nil {
		return ""
	}
	return d
}
