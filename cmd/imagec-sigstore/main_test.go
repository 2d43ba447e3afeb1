package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/verify/sigcheck"
)

type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// A request it cannot read exits 2, saying why in one line; a request it
// can exits 0 with the response, whatever the signatures hold.
func TestRun(t *testing.T) {
	t.Parallel()
	key := signtest.MustNewKey(t)
	d := digest.FromString("manifest")
	payload := signtest.Payload("registry.example.com/app", d)
	ann, err := key.SignPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	good, err := json.Marshal(sigcheck.Request{
		Version: sigcheck.Version, Digest: d.String(),
		Trust:  []sigcheck.Trust{{Keys: []string{string(key.PublicPEM())}}},
		Legacy: []sigcheck.Legacy{{Payload: payload, Signature: ann[signtest.AnnotationSignature]}, {Payload: payload, Signature: "not base64!"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		args   []string
		stdin  io.Reader
		code   int
		stderr string
	}{
		"valid":         {nil, bytes.NewReader(good), 0, ""},
		"oversize":      {nil, io.LimitReader(spaces{}, sigcheck.MaxRequestSize+1), 2, "over 67108864 bytes"},
		"garbage":       {nil, strings.NewReader("\x00garbage"), 2, "unreadable request"},
		"trailing":      {nil, strings.NewReader(string(good) + "{}"), 2, "more after"},
		"unknown field": {nil, strings.NewReader(`{"version":1,"digest":"` + d.String() + `","extra":1}`), 2, "unknown field"},
		"empty":         {nil, strings.NewReader(""), 2, "unreadable request"},
		"version":       {nil, strings.NewReader(`{"version":7}`), 2, "version 7"},
		"by hand":       {[]string{"--help"}, strings.NewReader(""), 2, "internal signature checker"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, false, tt.stdin, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) || strings.Count(stderr.String(), "\n") > 1 {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", name, code, stderr.String(), tt.code, tt.stderr)
		}
		if code != 0 {
			if stdout.Len() != 0 {
				t.Errorf("%s: a response with exit %d", name, code)
			}
			continue
		}
		var resp sigcheck.Response
		var req sigcheck.Request
		if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
			t.Fatalf("%s: response: %v", name, err)
		}
		_ = json.Unmarshal(good, &req)
		if err := resp.Validate(&req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l := resp.Results[0].Legacy; !l[0].OK() || l[1].Reason != sigcheck.Malformed {
			t.Errorf("%s: results %+v", name, l)
		}
	}
}
