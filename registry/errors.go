package registry

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry/auth"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// Error is an error response from a registry. Its URL never carries a query
// string, which may hold tokens or signatures.
type Error struct {
	Method     string
	URL        string
	StatusCode int
	Errors     []ErrorDetail
	// InsufficientScope is set on a 401 whose bearer challenge says
	// error="insufficient_scope": the token was accepted but grants too
	// little, as for a push to a repository the user may only pull.
	InsufficientScope bool
}

// ErrorDetail is one entry of the distribution API's error body
// {"errors":[{"code":..,"message":..,"detail":..}]}.
type ErrorDetail struct {
	Code    string          `json:"code"`
	Message string          `json:"message,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Error reads "GET https://host/v2/repo/manifests/tag: 404 Not Found:
// MANIFEST_UNKNOWN: manifest unknown". The codes and messages are the
// registry's text as sent, newlines and control characters included: it is
// the printer's job to escape them (imagec's CLI and progress renderers do),
// and a caller matching on a message sees what the registry said.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	for i, d := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		parts := make([]string, 0, 2)
		for _, s := range []string{d.Code, d.Message} {
			if s = strings.TrimSpace(s); s != "" {
				parts = append(parts, s)
			}
		}
		b.WriteString(strings.Join(parts, ": "))
	}
	return b.String()
}

// Unwrap maps the response to an errdefs category.
func (e *Error) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return errdefs.ErrUnauthorized
	case e.StatusCode == http.StatusForbidden || e.hasCode("DENIED"):
		return errdefs.ErrDenied
	case e.StatusCode == http.StatusNotFound:
		return errdefs.ErrNotFound
	case e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500:
		return errdefs.ErrUnavailable
	case e.StatusCode >= 400:
		return errdefs.ErrInvalidArgument
	default:
		// A status the API never answers with where it was seen.
		return errdefs.ErrUnsupported
	}
}

func (e *Error) hasCode(code string) bool {
	for _, d := range e.Errors {
		if strings.EqualFold(d.Code, code) {
			return true
		}
	}
	return false
}

// responseError turns an unwanted response into an *Error, reading (bounded)
// and closing its body.
func responseError(resp *http.Response) *Error {
	defer resp.Body.Close()
	e := &Error{Method: resp.Request.Method, URL: redactURL(resp.Request.URL.String()), StatusCode: resp.StatusCode}
	if resp.StatusCode == http.StatusUnauthorized {
		for _, ch := range auth.ParseChallenges(resp.Header.Values("WWW-Authenticate")) {
			e.InsufficientScope = e.InsufficientScope || ch.Params["error"] == "insufficient_scope"
		}
	}
	if resp.Request.Method != http.MethodHead {
		body, _ := readBounded(resp.Body, maxErrorBody)
		e.Errors = parseErrorBody(body)
	}
	return e
}

// parseErrorBody extracts the error entries of a distribution API error body;
// anything else (HTML from a proxy, truncated JSON) yields none.
func parseErrorBody(body []byte) []ErrorDetail {
	var doc struct {
		Errors []ErrorDetail `json:"errors"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	return doc.Errors
}

// tlsVerifyError returns the certificate verification failure inside err,
// or nil.
func tlsVerifyError(err error) error {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return cve.Err
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return err
	}
	return nil
}

// classify wraps a failed exchange with host and category and says whether
// trying again may help.
func classify(host string, err error) (_ error, retry bool) {
	if vErr := tlsVerifyError(err); vErr != nil {
		return fmt.Errorf("TLS verification failed for %s: %v; use --ca-file or --insecure-skip-verify: %w",
			host, vErr, errdefs.ErrInvalidArgument), false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("registry %s unreachable: %w: %w", host, err, errdefs.ErrUnavailable), false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) {
		return fmt.Errorf("registry %s unreachable: %w: %w", host, err, errdefs.ErrUnavailable), true
	}
	for _, permanent := range []error{
		errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrUnauthorized, errdefs.ErrDenied,
		errdefs.ErrUnsupported, errdefs.ErrTooLarge, errdefs.ErrSizeMismatch, errdefs.ErrDigestMismatch,
		errdefs.ErrQuotaExceeded, errTooManyRedirects,
	} {
		if errors.Is(err, permanent) {
			return err, false
		}
	}
	if errors.Is(err, errdefs.ErrUnavailable) {
		return err, true
	}
	// Resets, EOF before headers, timeouts, HTTP/2 stream errors: transient.
	return fmt.Errorf("request to registry %s failed: %w: %w", host, err, errdefs.ErrUnavailable), true
}
