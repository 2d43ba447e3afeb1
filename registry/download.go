package registry

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// Download is the transfer of one blob from one place (a registry
// repository, or a URL a foreign layer lists) under one retry budget: at
// most the client's attempts (WithRetry, default 5) requests in all, whether
// the client retries a failed request inside Open or the caller resumes a
// body that failed midway (Retry, Restart). A caller that moves on to
// another endpoint starts a new Download there. Open, Retry and Restart are
// for one goroutine at a time; Part and PartDone may be called from the
// goroutines of one multipart fetch at once.
type Download struct {
	c    *Client
	desc ocispec.Descriptor
	// host is where requests go (for messages); where names the source in
	// errors; resolve returns the HTTP client and URL of a request.
	host, where string
	resolve     func(ctx context.Context) (*http.Client, string, error)
	budget      budget
	small       bool
	parts       partState
}

// DownloadOption configures a Download.
type DownloadOption func(*Download)

// OnRetry has f told the pause before every retry of the download, by the
// client or after Retry, so a progress display can say so. Default none.
func OnRetry(f func(delay time.Duration)) DownloadOption {
	return func(d *Download) { d.budget.onRetry = f }
}

// SmallBody holds the download to the small-body deadline
// (WithSmallBodyDeadline), like a manifest: for a blob read in full, such as
// an image config, which a trickling registry must not stretch. Default: a
// blob's content has no deadline, only the stall timeout.
func SmallBody() DownloadOption {
	return func(d *Download) { d.small = true }
}

// BlobDownload prepares the download of blob desc from ref's repository.
// Nothing is sent until Open.
func (c *Client) BlobDownload(ref reference.Reference, desc ocispec.Descriptor, opts ...DownloadOption) *Download {
	d := &Download{c: c, desc: desc, host: ref.Host(), where: "of " + ref.String(), budget: c.newBudget()}
	d.resolve = func(ctx context.Context) (*http.Client, string, error) {
		u, err := c.blobURL(ctx, ref, desc)
		return c.api, u, err
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// URLDownload prepares the download of blob desc from rawURL, one of the
// URLs a foreign layer's descriptor lists. No credentials are sent there.
func (c *Client) URLDownload(rawURL string, desc ocispec.Descriptor, opts ...DownloadOption) *Download {
	d := &Download{c: c, desc: desc, host: redactURL(rawURL), where: "at " + redactURL(rawURL), budget: c.newBudget()}
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		d.host = u.Host
	}
	d.resolve = func(context.Context) (*http.Client, string, error) {
		u, err := c.foreignURL(rawURL, desc)
		if err != nil {
			return nil, "", err
		}
		return c.plain, u.String(), nil
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Open sends a request for the blob from offset, retrying transient
// failures within the download's budget; see OpenBlob for what the body
// guarantees. An error from Open is final: the retries it deserved have been
// made, so a caller must not Retry it.
func (d *Download) Open(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
	if err := checkRange(d.desc, offset, d.where); err != nil {
		return nil, 0, err
	}
	if offset > 0 && offset == d.desc.Size {
		return io.NopCloser(strings.NewReader("")), offset, nil // nothing left to fetch
	}
	hc, u, err := d.resolve(ctx)
	if err != nil {
		return nil, 0, err
	}
	return d.c.openRange(ctx, hc, d.host, u, d.desc, offset, &d.budget, d.small)
}

// Retry is the client's retry policy applied to err, which ended reading a
// body from Open midway: for a transient failure (errdefs.ErrUnavailable:
// a reset, a truncation, a stall) with requests left in the budget, it waits
// the backoff and returns nil, and the caller opens again from the offset it
// reached. Otherwise it returns the error to fail with, saying how many
// requests were sent.
func (d *Download) Retry(ctx context.Context, err error) error {
	if ctx.Err() != nil || !errdefs.IsRetryable(err) {
		return err
	}
	return d.c.wait(ctx, d.host, &d.budget, err, "")
}

// Restart accounts for a caller that discards what it has and opens again
// from offset 0 at once, because err showed the data it received was bad (a
// digest or size mismatch, a garbled Content-Range). It returns nil when the
// budget has a request left, else err saying how many were sent.
func (d *Download) Restart(err error) error {
	if done, _ := d.budget.spent(); done {
		return d.budget.gaveUp(err)
	}
	return nil
}
