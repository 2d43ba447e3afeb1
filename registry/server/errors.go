package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/imagec/imagec/errdefs"
)

// apiError is an answer in the distribution API's error format
// {"errors":[{"code":..,"message":..}]}. Its message is what a client
// reads; the error behind it, which may name files of the store, goes to
// the access log only.
type apiError struct {
	status        int
	code, message string
	cause         error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.message + ": " + e.cause.Error()
	}
	return e.code + ": " + e.message
}

func (e *apiError) Unwrap() error { return e.cause }

func errNotFound(code, message string) *apiError {
	return &apiError{status: http.StatusNotFound, code: code, message: message}
}

// errUnsupported answers writes: the store is served read-only.
var errUnsupported = &apiError{status: http.StatusMethodNotAllowed, code: "UNSUPPORTED", message: "this registry is read-only"}

// asAPIError maps err to an answer; unknown is the code for "not found"
// where the request was made (MANIFEST_UNKNOWN, BLOB_UNKNOWN, ...).
// Messages of errors from the upstream of a pull-through (a registry's
// error text) are passed on; the store's own are not.
func asAPIError(err error, unknown string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	e := &apiError{cause: err}
	switch {
	case errors.Is(err, errdefs.ErrNotFound), errors.Is(err, errdefs.ErrUnsupported):
		e.status, e.code, e.message = http.StatusNotFound, unknown, "unknown to this registry"
	case errors.Is(err, errdefs.ErrUnauthorized), errors.Is(err, errdefs.ErrDenied):
		e.status, e.code, e.message = http.StatusForbidden, "DENIED", "the upstream registry refused access"
	case errors.Is(err, errdefs.ErrUnavailable):
		e.status, e.code, e.message = http.StatusServiceUnavailable, "UNAVAILABLE", "the upstream registry is unavailable"
	case errors.Is(err, errdefs.ErrDigestMismatch), errors.Is(err, errdefs.ErrSizeMismatch),
		errors.Is(err, errdefs.ErrTooLarge), errors.Is(err, errdefs.ErrInvalidArgument):
		e.status, e.code, e.message = http.StatusBadGateway, "UNKNOWN", "the upstream registry sent content that does not verify"
	default:
		e.status, e.code, e.message = http.StatusInternalServerError, "UNKNOWN", "internal error"
	}
	return e
}

// writeError answers err in the distribution error format and notes it
// for the access log.
func writeError(w http.ResponseWriter, r *http.Request, err error, unknown string) {
	e := asAPIError(err, unknown)
	noteError(w, e)
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": e.code, "message": e.message}}})
	h := w.Header()
	h.Del("Docker-Content-Digest")
	h.Del("Content-Range")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if e.status == http.StatusMethodNotAllowed {
		h.Set("Allow", "GET, HEAD")
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
