package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/imagec/imagec/errdefs"
)

// ErrNoRanges is wrapped by Part when the server does not answer a range
// request with exactly that range (it ignores Range, or gives another
// Content-Range): the caller fetches the blob as one stream instead.
var ErrNoRanges = errors.New("the server does not serve byte ranges of this blob")

// partState is what the parts of one Download share: the URL a registry
// redirected a part to (a CDN or object store), so later parts go there
// directly instead of through the registry and its redirect again.
type partState struct {
	mu       sync.Mutex
	direct   string
	reserved bool
}

// Part GETs bytes [start, end] of the blob with one Range request, under
// the download's budget, which concurrent parts share: each request that
// fails is charged, each part that arrives whole gives its request back
// (PartDone), so a large blob's many parts cannot use up the budget. The
// body yields exactly end-start+1 bytes (errdefs.ErrUnavailable when it
// ends early, so the caller may ask again for the rest).
//
// A server answering 200 to a request for the first bytes sends the whole
// blob: Part returns that body with whole true, and the caller streams it.
// Any other answer that is not exactly the range asked for fails wrapping
// ErrNoRanges. Once the registry redirects a part to another host, later
// parts go to that URL directly; a failure there sends the part through the
// registry again. Parts are safe to request concurrently.
func (d *Download) Part(ctx context.Context, start, end int64) (body io.ReadCloser, whole bool, err error) {
	if start < 0 || end < start || end >= d.desc.Size {
		return nil, false, fmt.Errorf("blob %s %s: part %d-%d outside its size %d: %w", d.desc.Digest, d.where, start, end, d.desc.Size, errdefs.ErrInvalidArgument)
	}
	if u := d.directURL(); u != "" {
		body, whole, err := d.part(ctx, d.c.plain, u, start, end)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrNoRanges) {
			return body, whole, err
		}
		d.setDirect("") // expired or refused: through the registry again
	}
	hc, u, err := d.resolve(ctx)
	if err != nil {
		return nil, false, err
	}
	return d.part(ctx, hc, u, start, end)
}

// PartDone credits the budget with the request of a part that arrived
// whole.
func (d *Download) PartDone() { d.budget.progressed() }

// Concurrently allows n parts in flight at once beyond the first: their
// requests are charged while they run (and given back by PartDone), so the
// budget gets room for them, once. A blob that keeps failing still gives
// up after the client's attempts plus n failed requests.
func (d *Download) Concurrently(n int) {
	d.parts.mu.Lock()
	defer d.parts.mu.Unlock()
	if d.parts.reserved || n <= 0 {
		return
	}
	d.parts.reserved = true
	for range n {
		d.budget.progressed()
	}
}

func (d *Download) part(ctx context.Context, hc *http.Client, u string, start, end int64) (io.ReadCloser, bool, error) {
	header := http.Header{}
	header.Set("Accept-Encoding", "identity")
	header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
	ok := func(status int) bool { return status == http.StatusOK || status == http.StatusPartialContent }
	resp, err := d.c.retry(ctx, d.host, &d.budget, ok, func(ctx context.Context) (*http.Response, error) {
		return d.c.send(ctx, hc, http.MethodGet, u, header)
	})
	if err != nil {
		return nil, false, err
	}
	if resp.Request != nil && resp.Request.URL != nil && resp.Request.URL.Host != urlHost(u) {
		d.setDirect(resp.Request.URL.String())
	}
	if wb, ok := resp.Body.(*watchedBody); ok && !d.small {
		wb.streaming()
	}
	if resp.StatusCode == http.StatusOK {
		if start != 0 || (resp.ContentLength >= 0 && resp.ContentLength != d.desc.Size) {
			resp.Body.Close()
			return nil, false, fmt.Errorf("blob %s: the server answered a range request with the whole blob: %w", d.desc.Digest, ErrNoRanges)
		}
		return &blobBody{body: resp.Body, digest: d.desc.Digest, remaining: d.desc.Size}, true, nil
	}
	got := resp.Header.Get("Content-Range")
	first, last, total, err := parseContentRange(got)
	if err != nil || first != start || last != end || total != d.desc.Size {
		resp.Body.Close()
		return nil, false, fmt.Errorf("blob %s: Range bytes=%d-%d answered with Content-Range %q: %w", d.desc.Digest, start, end, got, ErrNoRanges)
	}
	n := end - start + 1
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		resp.Body.Close()
		return nil, false, fmt.Errorf("blob %s: part %d-%d of %d bytes sent as %d: %w", d.desc.Digest, start, end, n, resp.ContentLength, ErrNoRanges)
	}
	return &blobBody{body: resp.Body, digest: d.desc.Digest, pos: start, remaining: n}, false, nil
}

func (d *Download) directURL() string {
	d.parts.mu.Lock()
	defer d.parts.mu.Unlock()
	return d.parts.direct
}

func (d *Download) setDirect(u string) {
	d.parts.mu.Lock()
	d.parts.direct = u
	d.parts.mu.Unlock()
}

func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
