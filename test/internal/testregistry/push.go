package testregistry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/opencontainers/go-digest"
)

// Push uploads img's config and layer blobs (skipping blobs the repository
// already has, and foreign layers), then its manifest under tag, or by
// digest only when tag is empty.
func (r *Registry) Push(ctx context.Context, repo, tag string, img *fixtures.Image) error {
	c := r.Client()
	if err := r.pushBlob(ctx, c, repo, img.ConfigDesc.Digest, img.Config); err != nil {
		return err
	}
	for _, l := range img.Layers {
		if len(l.URLs) > 0 {
			continue // foreign: clients fetch it from its URLs
		}
		if err := r.pushBlob(ctx, c, repo, l.Digest, l.Data); err != nil {
			return err
		}
	}
	return r.pushManifest(ctx, c, repo, tag, img.ManifestDesc.MediaType, img.Manifest)
}

// PushIndex pushes every image and attestation of idx by digest, then the
// index itself under tag (by digest only when tag is empty).
func (r *Registry) PushIndex(ctx context.Context, repo, tag string, idx *fixtures.Index) error {
	for _, img := range append(append([]*fixtures.Image(nil), idx.Images...), idx.Attestations...) {
		if err := r.Push(ctx, repo, "", img); err != nil {
			return err
		}
	}
	return r.pushManifest(ctx, r.Client(), repo, tag, idx.MediaType, idx.Body)
}

// pushBlob uploads data monolithically (POST then PUT with the digest)
// unless a HEAD shows the blob is already there.
func (r *Registry) pushBlob(ctx context.Context, c *http.Client, repo string, dgst digest.Digest, data []byte) error {
	base := r.URL + "/v2/" + repo + "/blobs/"
	resp, err := do(ctx, c, http.MethodHead, base+dgst.String(), "", nil)
	if err != nil {
		return fmt.Errorf("checking blob %s in %s: %w", dgst, repo, err)
	}
	if resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		return nil
	}
	if err := expect(resp, http.StatusNotFound); err != nil {
		return fmt.Errorf("checking blob %s in %s: %w", dgst, repo, err)
	}

	resp, err = do(ctx, c, http.MethodPost, base+"uploads/", "", nil)
	if err != nil {
		return fmt.Errorf("starting upload of %s to %s: %w", dgst, repo, err)
	}
	if err := expect(resp, http.StatusAccepted); err != nil {
		return fmt.Errorf("starting upload of %s to %s: %w", dgst, repo, err)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("upload location for %s in %s: %w", dgst, repo, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	q := loc.Query()
	q.Set("digest", dgst.String())
	loc.RawQuery = q.Encode()

	resp, err = do(ctx, c, http.MethodPut, loc.String(), "application/octet-stream", data)
	if err != nil {
		return fmt.Errorf("uploading %s to %s: %w", dgst, repo, err)
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", dgst, repo, err)
	}
	return nil
}

func (r *Registry) pushManifest(ctx context.Context, c *http.Client, repo, tag, mediaType string, body []byte) error {
	want := digest.FromBytes(body)
	ref := tag
	if ref == "" {
		ref = want.String()
	}
	resp, err := do(ctx, c, http.MethodPut, r.URL+"/v2/"+repo+"/manifests/"+url.PathEscape(ref), mediaType, body)
	if err != nil {
		return fmt.Errorf("pushing manifest %s:%s: %w", repo, ref, err)
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return fmt.Errorf("pushing manifest %s:%s: %w", repo, ref, err)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != want.String() {
		return fmt.Errorf("pushing manifest %s:%s: registry stored %s, sent %s: %w", repo, ref, got, want, errdefs.ErrDigestMismatch)
	}
	return nil
}

func do(ctx context.Context, c *http.Client, method, u, contentType string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, errors.Join(errdefs.ErrInvalidArgument, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, errors.Join(errdefs.ErrUnavailable, err)
	}
	return resp, nil
}

// expect drains and closes resp's body and fails unless it has status want.
func expect(resp *http.Response, want int) error {
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return statusError(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

// statusError describes an unexpected response, with the registry's error
// body, wrapped in the matching category.
func statusError(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	cat := errdefs.ErrUnavailable
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		cat = errdefs.ErrUnauthorized
	case http.StatusForbidden:
		cat = errdefs.ErrDenied
	case http.StatusNotFound:
		cat = errdefs.ErrNotFound
	case http.StatusBadRequest:
		cat = errdefs.ErrInvalidArgument
	}
	return fmt.Errorf("status %d: %s: %w", resp.StatusCode, bytes.TrimSpace(msg), cat)
}

// PushArtifact uploads an artifact's blobs, then its manifest under tag,
// or by digest only when tag is empty: a signature, an SBOM, a referrer.
func (r *Registry) PushArtifact(ctx context.Context, repo, tag string, a *signtest.Artifact) error {
	c := r.Client()
	for _, b := range a.Blobs {
		if err := r.pushBlob(ctx, c, repo, b.Desc.Digest, b.Data); err != nil {
			return err
		}
	}
	return r.pushManifest(ctx, c, repo, tag, a.Desc.MediaType, a.Manifest)
}
