package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

const (
	// maxTagPage bounds one page of a tag list: 4 MiB hold some 100,000
	// tags, more than any registry sends at once.
	maxTagPage = 4 << 20
	// maxTags bounds a whole tag list, however it is paged, so a registry
	// handing out next links for ever cannot hold a caller for ever.
	maxTags = 1 << 20
)

// TagsOption configures Tags.
type TagsOption func(*tagsOptions)

type tagsOptions struct {
	pageSize int
}

// TagPageSize asks for n tags per page (n=n); Tags still returns every tag,
// following the registry's Link headers. Default: 0, the registry's own
// page size.
func TagPageSize(n int) TagsOption {
	return func(o *tagsOptions) { o.pageSize = max(n, 0) }
}

// Tags lists the tags of ref's repository (its tag or digest plays no
// part) in the registry's order: GET /v2/<name>/tags/list, then every page
// its Link header (rel="next", with last= and n=) leads to on the same
// host. Each page is one operation of the retry policy and at most 4 MiB;
// more than 1,048,576 tags in all fail with errdefs.ErrTooLarge, and a
// next link that repeats, leaves the host or follows an empty page fails
// with ErrInvalidArgument. A repository the registry does not know fails
// with ErrNotFound. Tags are returned as the registry wrote them: a
// printer escapes them.
func (c *Client) Tags(ctx context.Context, ref reference.Reference, opts ...TagsOption) ([]string, error) {
	var o tagsOptions
	for _, opt := range opts {
		opt(&o)
	}
	host := ref.Host()
	next, err := c.endpoint(ctx, host, "/v2/"+ref.Path()+"/tags/list")
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", ref.Name(), err)
	}
	if o.pageSize > 0 {
		u, err := url.Parse(next)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %v: %w", ref.Name(), err, errdefs.ErrInvalidArgument)
		}
		q := u.Query() // ns= for a mirror
		q.Set("n", strconv.Itoa(o.pageSize))
		u.RawQuery = q.Encode()
		next = u.String()
	}
	tags, err := c.tagPages(ctx, host, next)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", ref.Name(), err)
	}
	return tags, nil
}

// tagPages reads a tag list on host from its first page, next, on.
func (c *Client) tagPages(ctx context.Context, host, next string) ([]string, error) {
	header := http.Header{"Accept": {"application/json"}}
	var tags []string
	seen := map[string]bool{}
	for next != "" {
		if seen[next] {
			return nil, fmt.Errorf("next link %s repeats a page: %w", redactURL(next), errdefs.ErrInvalidArgument)
		}
		seen[next] = true
		resp, body, err := c.getSmall(ctx, host, next, header, maxTagPage, "a page of tags")
		if err != nil {
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("not a tag list: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if len(tags)+len(page.Tags) > maxTags {
			return nil, fmt.Errorf("more than %d tags: %w", maxTags, errdefs.ErrTooLarge)
		}
		tags = append(tags, page.Tags...)
		link, err := nextLink(resp, next)
		if err != nil {
			return nil, err
		}
		if link != "" && len(page.Tags) == 0 {
			return nil, fmt.Errorf("an empty page links to another: %w", errdefs.ErrInvalidArgument)
		}
		next = c.route.keepNS(link)
	}
	return tags, nil
}

// nextLink is the rel="next" target of resp's Link headers (RFC 8288),
// resolved against the page's URL, or "" when there is none. It must stay
// on the page's scheme and host: the tag list is the registry's.
func nextLink(resp *http.Response, page string) (string, error) {
	base, err := url.Parse(page)
	if err != nil {
		return "", fmt.Errorf("page URL: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for _, h := range resp.Header.Values("Link") {
		for target, params := range linkValues(h) {
			if !isNextRel(params) {
				continue
			}
			u, err := base.Parse(target)
			if err != nil || u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) {
				return "", fmt.Errorf("next link %q does not stay on %s://%s: %w", redactURL(target), base.Scheme, base.Host, errdefs.ErrInvalidArgument)
			}
			return u.String(), nil
		}
	}
	return "", nil
}

// linkValues yields each "<target>; params" of a Link header value.
func linkValues(h string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		rest := h
		for {
			open := strings.IndexByte(rest, '<')
			if open < 0 {
				return
			}
			end := strings.IndexByte(rest[open:], '>')
			if end < 0 {
				return
			}
			target := rest[open+1 : open+end]
			rest = rest[open+end+1:]
			params := rest
			if i := strings.IndexByte(rest, '<'); i >= 0 {
				params = rest[:i]
			}
			if !yield(target, params) {
				return
			}
		}
	}
}

// isNextRel reports whether link params hold rel="next" (rel may list
// several relation types).
func isNextRel(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		for rel := range strings.FieldsSeq(strings.Trim(strings.TrimSpace(value), `",`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}
