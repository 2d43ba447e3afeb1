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
	resp, body, err := c.getSmall(ctx, host, u, acceptHeader(accept), MaxManifestSize, "manifest "+ref.String())
	if err != nil {
		return nil, err
	}
	return &Manifest{
		MediaType: mediaType(resp.Header.Get("Content-Type")),
		Body:      body,
		Digest:    headerDigest(resp.Header),
	}, nil
}

// GetManifestFrom fetches a manifest from the first of refs that serves
// it: the same manifest at several endpoints, a registry's mirrors first
// and the registry itself last (config.Config.References builds them). A
// failure at one hands over to the next at once, without the retries it
// would get at the last (NoRetry); when a reference pins a digest the body
// must hash to it, so a mirror cannot substitute another manifest. The
// error is the last endpoint's, naming its reference.
func (c *Client) GetManifestFrom(ctx context.Context, refs []reference.Reference, accept []string) (*Manifest, error) {
	err := fmt.Errorf("no endpoint to fetch a manifest from: %w", errdefs.ErrInvalidArgument)
	for i, ref := range refs {
		try := ctx
		if i < len(refs)-1 {
			try = NoRetry(ctx)
		}
		var m *Manifest
		if m, err = c.GetManifest(try, ref, accept); err == nil && ref.Digest() != "" {
			err = m.Verify(ref.Digest())
		}
		if err == nil {
			return m, nil
		}
		if ctx.Err() != nil || i == len(refs)-1 {
			return nil, manifestError("fetch manifest of", ref, err)
		}
	}
	return nil, err
}

// getSmall GETs u, a document on host's API such as a manifest or a page of
// tags (what, for messages), and reads its body whole, at most limit bytes
// (errdefs.ErrTooLarge), under one retry budget. The body is read inside
// the attempt, so a connection lost mid-body is retried like one lost
// before the headers.
func (c *Client) getSmall(ctx context.Context, host, u string, header http.Header, limit int64, what string) (*http.Response, []byte, error) {
	var body []byte
	b := c.newBudget()
	resp, err := c.retry(ctx, host, &b, isOK, func(ctx context.Context) (*http.Response, error) {
		resp, err := c.send(ctx, c.api, http.MethodGet, u, header)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		defer resp.Body.Close()
		if resp.ContentLength > limit {
			return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit: %w", what, resp.ContentLength, limit, errdefs.ErrTooLarge)
		}
		if body, err = readBounded(resp.Body, limit); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return resp, nil
	})
	return resp, body, err
}

// Verify checks that Body hashes to want, the digest the manifest was
// asked for: Digest, the registry's word, proves nothing. Errors wrap
// errdefs.ErrDigestMismatch, or ErrInvalidArgument for a malformed want.
func (m *Manifest) Verify(want digest.Digest) error {
	if err := want.Validate(); err != nil {
		return fmt.Errorf("manifest digest %q: %v: %w", want, err, errdefs.ErrInvalidArgument)
	}
	if got := want.Algorithm().FromBytes(m.Body); got != want {
		return fmt.Errorf("manifest asked for as %s hashes to %s: %w", want, got, errdefs.ErrDigestMismatch)
	}
	return nil
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
