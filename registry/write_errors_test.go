package registry

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

func TestWriteErrorCategories(t *testing.T) {
	t.Parallel()
	detail := func(code, msg string) []ErrorDetail { return []ErrorDetail{{Code: code, Message: msg}} }
	tests := []struct {
		name string
		err  *Error
		want []error // categories errors.Is must find
	}{
		{"403 denied", &Error{StatusCode: 403, Errors: detail("DENIED", "requested access to the resource is denied")}, []error{errdefs.ErrDenied}},
		{"401 without push scope", &Error{StatusCode: 401, InsufficientScope: true}, []error{errdefs.ErrDenied, errdefs.ErrUnauthorized}},
		{"401 bad credentials", &Error{StatusCode: 401}, []error{errdefs.ErrUnauthorized}},
		{"413", &Error{StatusCode: 413}, []error{errdefs.ErrQuotaExceeded}},
		{"storage quota as DENIED", &Error{StatusCode: 403, Errors: detail("DENIED", "quota exceeded for project")}, []error{errdefs.ErrQuotaExceeded, errdefs.ErrDenied}},
		{"Harbor's limit", &Error{StatusCode: 412, Errors: []ErrorDetail{{Code: "DENIED", Detail: json.RawMessage(`"will exceed the configured upper limit"`)}}}, []error{errdefs.ErrQuotaExceeded}},
		{"rate limit after retries", &Error{StatusCode: 429, Errors: detail("TOOMANYREQUESTS", "slow down")}, []error{errdefs.ErrQuotaExceeded, errdefs.ErrUnavailable}},
		{"digest invalid", &Error{StatusCode: 400, Errors: detail("DIGEST_INVALID", "provided digest did not match uploaded content")}, []error{errdefs.ErrDigestMismatch, errdefs.ErrInvalidArgument}},
		{"manifest blob unknown", &Error{StatusCode: 400, Errors: detail("MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")}, []error{errdefs.ErrInvalidArgument}},
		{"name invalid", &Error{StatusCode: 400, Errors: detail("NAME_INVALID", "invalid repository name")}, []error{errdefs.ErrInvalidArgument}},
		{"blob unknown", &Error{StatusCode: 404, Errors: detail("BLOB_UNKNOWN", "blob unknown to registry")}, []error{errdefs.ErrNotFound}},
	}
	for _, tt := range tests {
		tt.err.Method, tt.err.URL = "PUT", "https://r.example/v2/x/manifests/v1"
		err := writeError("push manifest to r.example/x:v1", tt.err)
		for _, want := range tt.want {
			if !errors.Is(err, want) {
				t.Errorf("%s: %v is not %v", tt.name, err, want)
			}
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "push manifest to r.example/x:v1: ") || strings.Contains(msg, "\n") {
			t.Errorf("%s: message %q", tt.name, msg)
		}
	}
	if errors.Is(writeError("x", &Error{StatusCode: 404}), errdefs.ErrDenied) {
		t.Error("a 404 became a denial")
	}
}
