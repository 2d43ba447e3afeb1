package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// StatBlob returns the size of a blob in ref's repository, from a HEAD
// request. Legacy schema 1 manifests do not carry layer sizes, and a
// download must be bounded by a size known before it starts.
func (c *Client) StatBlob(ctx context.Context, ref reference.Reference, d digest.Digest) (int64, error) {
	if err := d.Validate(); err != nil {
		return 0, fmt.Errorf("blob digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	host := ref.Host()
	u, err := c.endpoint(ctx, host, "/v2/"+ref.Path()+"/blobs/"+d.String())
	if err != nil {
		return 0, err
	}
	b := c.newBudget()
	resp, err := c.retry(ctx, host, &b, isOK, func(ctx context.Context) (*http.Response, error) {
		return c.send(ctx, c.api, http.MethodHead, u, nil)
	})
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return 0, fmt.Errorf("HEAD %s: no Content-Length for blob %s: %w", redactURL(u), d, errdefs.ErrInvalidArgument)
	}
	return resp.ContentLength, nil
}

// Login checks that the client's credentials are accepted by host: a GET of
// /v2/ that must end in 200 once the auth challenge has been answered.
func (c *Client) Login(ctx context.Context, host string) error {
	u, err := c.endpoint(ctx, host, "/v2/")
	if err != nil {
		return err
	}
	b := c.newBudget()
	resp, err := c.retry(ctx, host, &b, isOK, func(ctx context.Context) (*http.Response, error) {
		return c.send(ctx, c.api, http.MethodGet, u, nil)
	})
	if err != nil {
		return err
	}
	discard(resp.Body)
	return nil
}
