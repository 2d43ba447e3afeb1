package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// OpenBlob opens the blob desc of ref's repository for reading from offset
// (0 for the whole blob). With offset > 0 it asks for "Range: bytes=offset-";
// a 206 must carry Content-Range "bytes offset-(size-1)/size", while a 200
// means the registry ignored the range and the body starts at 0. It returns
// the body and the blob offset that body starts at.
//
// The body yields exactly desc.Size-start bytes: more fails with
// errdefs.ErrSizeMismatch; an early end fails with io.ErrUnexpectedEOF and
// errdefs.ErrUnavailable, so the caller may resume; a read making no progress
// for the stall timeout fails with errdefs.ErrUnavailable. Redirects to
// other hosts are followed (at most 10, never from https to http). The
// content is not verified against desc.Digest; that is the caller's job.
//
// OpenBlob is one Download's Open: a caller that resumes a failed body
// should use a Download, so that its resumes and the client's retries share
// one budget.
func (c *Client) OpenBlob(ctx context.Context, ref reference.Reference, desc ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	return c.BlobDownload(ref, desc).Open(ctx, offset)
}

// OpenURL GETs a blob from one of the URLs its descriptor lists (a foreign,
// non-distributable layer), with the bounds, Range handling and retries of
// OpenBlob. No credentials are sent: the URL is not the registry. Only
// https is accepted, or http where plain HTTP is allowed for its host.
func (c *Client) OpenURL(ctx context.Context, rawURL string, desc ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	return c.URLDownload(rawURL, desc).Open(ctx, offset)
}

// checkRange validates what a blob request is asked to fetch.
func checkRange(desc ocispec.Descriptor, offset int64, where string) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %s: invalid digest %q: %v: %w", where, desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if desc.Size < 0 || offset < 0 || offset > desc.Size {
		return fmt.Errorf("blob %s: offset %d outside its size %d: %w", desc.Digest, offset, desc.Size, errdefs.ErrInvalidArgument)
	}
	return nil
}

// blobURL is where a Download of ref's blob desc goes: the registry API
// path, pinging the host first if its scheme isn't known yet.
func (c *Client) blobURL(ctx context.Context, ref reference.Reference, desc ocispec.Descriptor) (string, error) {
	return c.endpoint(ctx, ref.Host(), "/v2/"+ref.Path()+"/blobs/"+desc.Digest.String())
}

// foreignURL checks a foreign layer's URL: http(s), no credentials, plain
// http only where it is allowed for the host.
func (c *Client) foreignURL(rawURL string, desc ocispec.Descriptor) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("blob %s: URL %s is not an http(s) URL without credentials: %w", desc.Digest, redactURL(rawURL), errdefs.ErrInvalidArgument)
	}
	if u.Scheme == "http" && !allowPlainHTTP(u.Host, c.opts.allowHTTP || c.opts.hostOptions(u.Host).InsecureAllowHTTP) {
		return nil, fmt.Errorf("blob %s: plain http to %s is not allowed (use --insecure-allow-http): %w", desc.Digest, u.Host, errdefs.ErrDenied)
	}
	return u, nil
}

// openRange GETs u (a blob), from offset when it is positive, spending b,
// and wraps the body in the bounds the descriptor sets. The body of a blob
// that is not small is exempt from the small-body deadline once it is known
// to be the blob (an error body is not).
func (c *Client) openRange(ctx context.Context, hc *http.Client, host, u string, desc ocispec.Descriptor, offset int64, b *budget, small bool) (io.ReadCloser, int64, error) {
	header := http.Header{}
	// Blob digests cover the bytes as stored; a transparently decompressed
	// body would never verify.
	header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	ok := func(status int) bool {
		return status == http.StatusOK || (offset > 0 && status == http.StatusPartialContent)
	}
	resp, err := c.retry(ctx, host, b, ok, func(ctx context.Context) (*http.Response, error) {
		return c.send(ctx, hc, http.MethodGet, u, header)
	})
	if err != nil {
		return nil, 0, err
	}

	var start int64
	if resp.StatusCode == http.StatusPartialContent {
		got := resp.Header.Get("Content-Range")
		first, last, total, err := parseContentRange(got)
		if err != nil || first != offset || last != desc.Size-1 || total != desc.Size {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("blob %s: registry answered Range bytes=%d- with Content-Range %q, want \"bytes %d-%d/%d\": %w",
				desc.Digest, offset, got, offset, desc.Size-1, desc.Size, errdefs.ErrInvalidArgument)
		}
		start = offset
	}
	if want := desc.Size - start; resp.ContentLength >= 0 && resp.ContentLength != want {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("blob %s: registry sends %d bytes from offset %d, descriptor size %d needs %d: %w",
			desc.Digest, resp.ContentLength, start, desc.Size, want, errdefs.ErrSizeMismatch)
	}
	if wb, ok := resp.Body.(*watchedBody); ok && !small {
		wb.streaming()
	}
	return &blobBody{body: resp.Body, digest: desc.Digest, pos: start, remaining: desc.Size - start}, start, nil
}

// parseContentRange parses a complete-length byte range, "bytes
// first-last/total" (RFC 9110 section 14.4). Unknown totals ("/*") and
// unsatisfied ranges are rejected: a resumed blob needs both ends.
func parseContentRange(v string) (first, last, total int64, err error) {
	bad := fmt.Errorf("malformed Content-Range %q", v)
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	span, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if first, err = parseNonNegative(a); err != nil {
		return 0, 0, 0, bad
	}
	if last, err = parseNonNegative(b); err != nil {
		return 0, 0, 0, bad
	}
	if total, err = parseNonNegative(size); err != nil {
		return 0, 0, 0, bad
	}
	if first > last || last >= total {
		return 0, 0, 0, bad
	}
	return first, last, total, nil
}

// parseNonNegative accepts plain decimal digits only: no sign, no spaces.
func parseNonNegative(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a decimal number: %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}
