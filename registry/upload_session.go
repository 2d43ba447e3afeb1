package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// upload is one blob's way into a repository: its HEAD, the session the
// registry opens for it, the requests that fill that session, and the
// budget they all share. It is used by one goroutine.
type upload struct {
	c    *Client
	ref  reference.Reference
	desc ocispec.Descriptor
	src  BlobSource
	o    uploadOptions
	host string
	b    budget

	loc    *url.URL // the session's URL, as the last response named it
	offset int64    // how much of the blob the session holds
	chunk  int64    // bytes per PATCH: the option, or the registry's minimum

	progressMu sync.Mutex // serialises OnUploadProgress calls (see report)
}

// attempt is how one request filling the session ended.
type attempt struct {
	done       bool   // the blob is committed
	err        error  // nil on success
	again      bool   // err is transient: find where the session stands, go on
	restart    bool   // the session is lost: open a new one
	disagrees  bool   // the registry refused the chunk's offset (416): ask it where it stands
	final      bool   // the request was the closing PUT
	retryAfter string // the registry's Retry-After with err
}

// step sends one request through the retry policy and, once it succeeds,
// gives its request back to the budget (see budget.progressed).
func (u *upload) step(ctx context.Context, ok func(status int) bool, method, target string) (*http.Response, error) {
	resp, err := u.c.retry(ctx, u.host, &u.b, ok, func(ctx context.Context) (*http.Response, error) {
		return u.c.send(ctx, u.c.api, method, target, nil)
	})
	if err == nil {
		u.b.progressed()
	}
	return resp, err
}

// exists asks the repository for the blob with a HEAD.
func (u *upload) exists(ctx context.Context) (bool, error) {
	target, err := u.c.endpoint(ctx, u.host, "/v2/"+u.ref.Path()+"/blobs/"+u.desc.Digest.String())
	if err != nil {
		return false, err
	}
	resp, err := u.step(ctx, func(s int) bool { return s == http.StatusOK || s == http.StatusNotFound }, http.MethodHead, target)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.ContentLength >= 0 && resp.ContentLength != u.desc.Size {
		return false, fmt.Errorf("registry %s has blob %s with %d bytes, its descriptor says %d: %w",
			u.host, u.desc.Digest, resp.ContentLength, u.desc.Size, errdefs.ErrSizeMismatch)
	}
	return true, nil
}

// start opens an upload session with a POST, as a mount from MountFrom
// when mount is set. It reports a mount the registry made (201). A
// registry that refuses the mount outright (a 4xx: no pull on the source,
// mounts unsupported) gets a plain POST: what it says to that is the
// answer that counts.
func (u *upload) start(ctx context.Context, mount bool) (mounted bool, err error) {
	target, err := u.c.endpoint(ctx, u.host, "/v2/"+u.ref.Path()+"/blobs/uploads/")
	if err != nil {
		return false, err
	}
	if mount {
		target += "?mount=" + url.QueryEscape(u.desc.Digest.String()) + "&from=" + url.QueryEscape(u.o.mountFrom.Path())
	}
	ok := func(s int) bool { return s == http.StatusAccepted || mount && s == http.StatusCreated }
	resp, err := u.step(ctx, ok, http.MethodPost, target)
	var re *Error
	if mount && errors.As(err, &re) && !retryableStatus(re.StatusCode) {
		u.b.progressed() // an answer, not a failure: upload instead
		return u.start(ctx, false)
	}
	if err != nil {
		return false, err
	}
	defer discard(resp.Body)
	if resp.StatusCode == http.StatusCreated {
		return true, u.checkDigest(resp)
	}
	u.loc, u.offset = nil, 0
	u.chunk = u.o.chunk
	if least, err := strconv.ParseInt(resp.Header.Get("OCI-Chunk-Min-Length"), 10, 64); err == nil {
		u.chunk = max(u.chunk, least)
	}
	return false, u.follow(resp)
}

// follow takes the session URL resp names in its Location (relative to the
// request's URL or absolute, on this host or another), keeping the current
// one when resp names none.
func (u *upload) follow(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	if loc == "" {
		if u.loc == nil {
			return fmt.Errorf("%s %s: %d without a Location for the upload: %w",
				resp.Request.Method, redactURL(resp.Request.URL.String()), resp.StatusCode, errdefs.ErrUnsupported)
		}
		return nil
	}
	next, err := resp.Request.URL.Parse(loc)
	if err != nil || (next.Scheme != "https" && next.Scheme != "http") || next.Host == "" || next.User != nil {
		return fmt.Errorf("registry %s: upload location %q is not an http(s) URL without credentials: %w",
			u.host, redactURL(loc), errdefs.ErrInvalidArgument)
	}
	if err := checkHop("upload location", u.host, resp.Request.URL.Scheme == "https", next); err != nil {
		return fmt.Errorf("registry %s: %w", u.host, err)
	}
	u.loc = next
	return nil
}

// transfer fills the session until the blob is committed, resuming after
// every transient failure from where the registry says it stands.
func (u *upload) transfer(ctx context.Context) error {
	for {
		a := u.sendNext(ctx)
		switch {
		case a.err == nil && a.done:
			return nil
		case a.err == nil:
			continue
		case !a.again:
			return a.err
		}
		if err := u.c.wait(ctx, u.host, &u.b, a.err, a.retryAfter); err != nil {
			return err
		}
		if committed, err := u.resync(ctx, a); err != nil || committed {
			return err
		}
	}
}

// resync finds where the session stands after the failure a: a closing PUT
// may have been committed although its answer was lost (HEAD); otherwise
// the session's offset (GET of its URL) is where the upload goes on, or a
// new session from 0 when the registry lost this one, or refused an offset
// (416) and reports that same offset again. (A registry may still be
// storing a chunk cut off midway when it is first asked, and refuse the
// offset it gave then; asked again, it says where it stands.)
func (u *upload) resync(ctx context.Context, a attempt) (committed bool, err error) {
	if a.final {
		if there, err := u.exists(ctx); err != nil || there {
			return there, err
		}
	}
	if a.restart {
		_, err := u.start(ctx, false)
		return false, err
	}
	ok := func(s int) bool { return s == http.StatusNoContent || s == http.StatusOK || s == http.StatusNotFound }
	resp, err := u.step(ctx, ok, http.MethodGet, u.loc.String())
	if err != nil {
		return false, err
	}
	defer discard(resp.Body)
	next, valid := parseUploadRange(resp.Header.Get("Range"))
	if resp.StatusCode == http.StatusNotFound || !valid || next > u.desc.Size || (a.disagrees && next == u.offset) {
		_, err := u.start(ctx, false)
		return false, err
	}
	u.offset = next
	return false, u.follow(resp)
}

// sendNext sends the session's next request: the whole blob in one PUT
// when it is small and nothing is there yet, else the next PATCH chunk
// from the session's offset, else the closing PUT with the digest.
func (u *upload) sendNext(ctx context.Context) attempt {
	size := u.desc.Size
	whole := u.offset == 0 && size <= u.o.threshold
	final := whole || u.offset >= size
	var n int64 // bytes the request carries
	switch {
	case whole:
		n = size
	case !final:
		n = min(size-u.offset, u.chunk)
	}
	method, target := http.MethodPatch, u.loc.String()
	if final {
		method, target = http.MethodPut, withDigest(u.loc, u.desc.Digest.String())
	}
	header := http.Header{}
	if n > 0 {
		header.Set("Content-Type", "application/octet-stream")
		if !whole {
			header.Set("Content-Range", fmt.Sprintf("%d-%d", u.offset, u.offset+n-1))
		}
	}
	if !u.b.take() {
		return attempt{err: u.b.gaveUp(fmt.Errorf("registry %s: no request left to send: %w", u.host, errdefs.ErrUnavailable))}
	}
	fail := &sourceFailure{}
	resp, err := u.c.sendBody(ctx, u.c.api, method, target, header, u.payload(ctx, n, fail))
	if err != nil {
		if srcErr := fail.get(); srcErr != nil {
			return attempt{err: srcErr}
		}
		if ctx.Err() != nil {
			return attempt{err: fmt.Errorf("registry %s: %w", u.host, context.Cause(ctx))}
		}
		err, again := classify(u.host, err)
		return attempt{err: err, again: again, final: final}
	}
	// A chunk is accepted with 202; the blob is committed with 201 (some
	// registries say 200 or 204). A 202 to the closing PUT would not mean
	// the blob is there.
	accepted := resp.StatusCode == http.StatusAccepted
	if final {
		accepted = resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent
	}
	if !accepted {
		re := responseError(resp)
		lost := re.StatusCode == http.StatusNotFound && re.hasCode("BLOB_UPLOAD_UNKNOWN")
		disagrees := re.StatusCode == http.StatusRequestedRangeNotSatisfiable
		return attempt{
			err: re, again: retryableStatus(re.StatusCode) || lost || disagrees, restart: lost, disagrees: disagrees,
			final: final, retryAfter: resp.Header.Get("Retry-After"),
		}
	}
	u.b.progressed()
	defer discard(resp.Body)
	if final {
		return attempt{done: true, err: u.checkDigest(resp)}
	}
	u.offset += n
	return attempt{err: u.follow(resp)}
}

// checkDigest holds the registry to the digest it reports storing, if any.
func (u *upload) checkDigest(resp *http.Response) error {
	if got := headerDigest(resp.Header); got != "" && got != u.desc.Digest {
		return fmt.Errorf("registry %s stored blob %s as %s: %w", u.host, u.desc.Digest, got, errdefs.ErrDigestMismatch)
	}
	return nil
}

// withDigest is loc with digest=d added to its query as is: re-encoding
// the registry's own parameters (a state token, a signature) could change
// them.
func withDigest(loc *url.URL, d string) string {
	u := *loc
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "digest=" + url.QueryEscape(d)
	return u.String()
}

// parseUploadRange reads a session's Range, "0-N" (some registries write
// "bytes=0-N"), as the offset to go on from, N+1. Distribution writes
// "0-0" for an empty session as for one holding a byte; it is read as
// empty, and a registry holding that byte answers the next chunk with 416,
// which opens a new session. An absent Range is an empty session.
func parseUploadRange(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "bytes=")
	if v == "" {
		return 0, true
	}
	first, last, ok := strings.Cut(v, "-")
	if !ok || first != "0" {
		return 0, false
	}
	end, err := parseNonNegative(last)
	if err != nil || end == 0 {
		return 0, err == nil
	}
	return end + 1, true
}
