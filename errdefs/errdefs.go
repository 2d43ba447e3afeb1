// Package errdefs defines the error categories imagec reports. Every error
// returned by the library wraps one of these with %w, so callers decide what
// to do with errors.Is instead of matching message text.
package errdefs

import "errors"

var (
	// ErrInvalidArgument: the input (a reference, a flag, a document) is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: the image, tag, manifest or blob does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the content is already present; callers treat it as success.
	ErrAlreadyExists = errors.New("already exists")
	// ErrUnauthorized: the registry wants credentials, or rejected the ones given.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDenied: the credentials were accepted but do not grant access.
	ErrDenied = errors.New("access denied")
	// ErrDigestMismatch: received content does not hash to the digest expected.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: received content is not the size its descriptor states.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrUnavailable: the registry could not be reached or kept failing.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnsupported: a media type, scheme or feature imagec does not handle.
	ErrUnsupported = errors.New("unsupported")
	// ErrTooLarge: a body read from the network exceeded its bound.
	ErrTooLarge = errors.New("too large")
	// ErrDiskFull: the store's filesystem has no space (or quota) left.
	// What was written stays; the operation can resume once there is room.
	ErrDiskFull = errors.New("disk full")
	// ErrQuotaExceeded: a registry refused to take more (a storage quota,
	// a blob or manifest over its size limit, a rate limit that outlasted
	// the retries). Trying again changes nothing until the quota does.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrUntrusted: the trust policy refuses the image: it rejects the
	// scope, or no signature meets its requirements.
	ErrUntrusted = errors.New("not trusted")
)

// IsRetryable reports whether an operation that failed with err may succeed
// if tried again unchanged: only transient unavailability qualifies.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrUnavailable)
}
