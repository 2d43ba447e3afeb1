package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

func TestErrorUnwrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		codes  []string
		want   error
	}{
		{401, nil, errdefs.ErrUnauthorized},
		{401, []string{"DENIED"}, errdefs.ErrUnauthorized},
		{403, nil, errdefs.ErrDenied},
		{404, []string{"DENIED"}, errdefs.ErrDenied},
		{404, []string{"MANIFEST_UNKNOWN"}, errdefs.ErrNotFound},
		{429, []string{"TOOMANYREQUESTS"}, errdefs.ErrUnavailable},
		{500, nil, errdefs.ErrUnavailable},
		{503, nil, errdefs.ErrUnavailable},
		{400, []string{"MANIFEST_INVALID"}, errdefs.ErrInvalidArgument},
		{416, nil, errdefs.ErrInvalidArgument},
		{304, nil, errdefs.ErrUnsupported},
	}
	for _, tt := range tests {
		e := &Error{Method: "GET", URL: "https://r.example/v2/", StatusCode: tt.status}
		for _, c := range tt.codes {
			e.Errors = append(e.Errors, ErrorDetail{Code: c})
		}
		if !errors.Is(e, tt.want) {
			t.Errorf("status %d codes %v: unwraps to %v, want %v", tt.status, tt.codes, e.Unwrap(), tt.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *Error
		want string
	}{
		{
			&Error{Method: "GET", URL: "https://h/v2/repo/manifests/tag", StatusCode: 404,
				Errors: []ErrorDetail{{Code: "MANIFEST_UNKNOWN", Message: "manifest unknown"}}},
			"GET https://h/v2/repo/manifests/tag: 404 Not Found: MANIFEST_UNKNOWN: manifest unknown",
		},
		{
			&Error{Method: "HEAD", URL: "https://h/v2/r/manifests/t", StatusCode: 503},
			"HEAD https://h/v2/r/manifests/t: 503 Service Unavailable",
		},
		{
			&Error{Method: "GET", URL: "https://h/v2/", StatusCode: 401,
				Errors: []ErrorDetail{{Code: "UNAUTHORIZED"}, {Message: " multi\nline\tmessage\n"}}},
			"GET https://h/v2/: 401 Unauthorized: UNAUTHORIZED; multi\nline\tmessage",
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseErrorBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body  string
		codes []string
	}{
		{`{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown","detail":"sha256:abc"}]}`, []string{"BLOB_UNKNOWN"}},
		{`{"errors":[{"code":"A"},{"code":"B","detail":{"k":[1,2]}}]}`, []string{"A", "B"}},
		{`<html>502 Bad Gateway</html>`, nil},
		{`{"errors":`, nil},
		{``, nil},
		{`{"message":"not the distribution format"}`, nil},
	}
	for _, tt := range tests {
		got := parseErrorBody([]byte(tt.body))
		var codes []string
		for _, d := range got {
			codes = append(codes, d.Code)
		}
		if fmt.Sprint(codes) != fmt.Sprint(tt.codes) {
			t.Errorf("parseErrorBody(%q) codes = %v, want %v", tt.body, codes, tt.codes)
		}
	}
	d := parseErrorBody([]byte(`{"errors":[{"code":"X","detail":{"Tag":"v1"}}]}`))
	if len(d) != 1 || !json.Valid(d[0].Detail) || string(d[0].Detail) != `{"Tag":"v1"}` {
		t.Errorf("detail not kept raw: %+v", d)
	}
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`{"errors":[{"code":"DENIED","message":"no","detail":null}]}`))
	f.Add([]byte(`{"errors":[{}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := &Error{Method: "GET", URL: "https://h/v2/", StatusCode: 400, Errors: parseErrorBody(body)}
		// The registry's text is kept as sent; printers escape it.
		if msg := e.Error(); !strings.HasPrefix(msg, "GET https://h/v2/: 400 Bad Request") {
			t.Errorf("error message %q", msg)
		}
		if e.Unwrap() == nil {
			t.Error("no category")
		}
	})
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://cdn.example/blobs/x?X-Amz-Signature=abc&X-Amz-Credential=def", "https://cdn.example/blobs/x"},
		{"https://user:pass@r.example/v2/?token=t#frag", "https://r.example/v2/"},
		{"http://localhost:5000/v2/repo/manifests/tag", "http://localhost:5000/v2/repo/manifests/tag"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
