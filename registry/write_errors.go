package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/imagec/imagec/errdefs"
)

// writeError is err, the failure of a write (what: "push blob sha256:… to
// host/repo"), as one line: what failed, the category the registry's
// answer means for a push, then the registry's own text. The categories a
// pusher acts on are not always the HTTP status's: a 401 whose token lacks
// push is a denial, not a login problem; a 403 or 413 about a quota is
// neither a denial to appeal nor a malformed request; DIGEST_INVALID says
// the bytes did not hash to the digest sent.
func writeError(what string, err error) error {
	var re *Error
	if errors.As(err, &re) {
		if cat := re.writeCategory(); cat != nil && !errors.Is(err, cat) {
			return fmt.Errorf("%s: %w: %w", what, cat, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// writeCategory is the errdefs category a registry's refusal of a write
// falls in beyond the status's own (Unwrap), or nil.
func (e *Error) writeCategory() error {
	switch {
	case e.quota():
		return errdefs.ErrQuotaExceeded
	case e.StatusCode == http.StatusForbidden || e.hasCode("DENIED") || e.InsufficientScope:
		return errdefs.ErrDenied
	case e.hasCode("DIGEST_INVALID"):
		return errdefs.ErrDigestMismatch
	case e.hasCode("SIZE_INVALID"):
		return errdefs.ErrSizeMismatch
	}
	return nil
}

// quota reports a refusal for want of room or rate: 413, a rate limit that
// outlasted the retries, or a denial whose text is about a quota or a limit
// exceeded (Harbor, GitLab and Artifactory say so in a DENIED or a 403).
func (e *Error) quota() bool {
	if e.StatusCode == http.StatusRequestEntityTooLarge || e.StatusCode == http.StatusTooManyRequests ||
		e.hasCode("TOOMANYREQUESTS") || e.hasCode("QUOTA_EXCEEDED") {
		return true
	}
	if e.StatusCode != http.StatusForbidden && !e.hasCode("DENIED") {
		return false
	}
	for _, d := range e.Errors {
		text := strings.ToLower(d.Message + " " + string(d.Detail))
		if strings.Contains(text, "quota") || strings.Contains(text, "exceed") {
			return true
		}
	}
	return false
}
