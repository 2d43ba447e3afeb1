package testregistry

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}

func TestPushPullThroughAuthModes(t *testing.T) {
	t.Parallel()
	good := &creds{"alice", "s3cret"}
	tests := []struct {
		name      string
		opts      []Option
		anonymous bool // an anonymous pull succeeds
		auth      bool
		token     bool
	}{
		{name: "plain", anonymous: true},
		{name: "tls", opts: []Option{WithTLS()}, anonymous: true},
		{name: "basic", opts: []Option{WithBasicAuth(good.user, good.pass)}, auth: true},
		{name: "token", opts: []Option{WithTokenAuth(good.user, good.pass)}, auth: true, token: true},
		{name: "token-anonymous-pull", opts: []Option{WithTokenAuth(good.user, good.pass), WithAnonymousPull()}, anonymous: true, auth: true, token: true},
		{name: "tls-token", opts: []Option{WithTLS(), WithTokenAuth(good.user, good.pass)}, auth: true, token: true},
	}
	img, err := fixtures.NewImage(42, 2, 4096, fixtures.OCI, fixtures.Gzip, amd64)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Start(t, tc.opts...)
			if err := r.Push(t.Context(), "fixtures/app", "v1", img); err != nil {
				t.Fatalf("push: %v", err)
			}
			if wantTLS := strings.HasPrefix(r.URL, "https://"); wantTLS != (r.CAPool != nil) || wantTLS != (r.CAFile != "") {
				t.Errorf("URL %s with CAPool %v CAFile %q", r.URL, r.CAPool != nil, r.CAFile)
			}
			hc := plainClient(r)
			manifestURL := r.URL + "/v2/fixtures/app/manifests/v1"

			status, _, _ := fetch(t, hc, manifestURL, acceptAll, nil)
			if got := status == http.StatusOK; got != tc.anonymous {
				t.Errorf("anonymous pull: status %d, want success=%v", status, tc.anonymous)
			}
			if tc.auth {
				status, _, _ := fetch(t, hc, manifestURL, acceptAll, &creds{good.user, "wrong"})
				if status != http.StatusUnauthorized {
					t.Errorf("wrong password: status %d, want 401", status)
				}
			}

			r.ResetRequests()
			status, hdr, body := fetch(t, hc, manifestURL, acceptAll, good)
			if status != http.StatusOK {
				t.Fatalf("pull manifest with credentials: status %d", status)
			}
			if !bytes.Equal(body, img.Manifest) || hdr.Get("Docker-Content-Digest") != img.ManifestDesc.Digest.String() {
				t.Errorf("manifest digest %s, want %s", hdr.Get("Docker-Content-Digest"), img.ManifestDesc.Digest)
			}
			for _, want := range append([]digest.Digest{img.ConfigDesc.Digest}, img.Layers[0].Digest, img.Layers[1].Digest) {
				status, _, blob := fetch(t, hc, r.URL+"/v2/fixtures/app/blobs/"+want.String(), "", good)
				if status != http.StatusOK || digest.FromBytes(blob) != want {
					t.Errorf("blob %s: status %d, digest %s", want, status, digest.FromBytes(blob))
				}
			}
			if n := r.BlobGets(); n != 3 {
				t.Errorf("BlobGets = %d, want 3", n)
			}
			if got := r.TokenRequests() > 0; got != tc.token {
				t.Errorf("TokenRequests = %d, token auth %v", r.TokenRequests(), tc.token)
			}
			sawAuth := false
			for _, req := range r.Requests() {
				sawAuth = sawAuth || (req.Authorization && strings.HasPrefix(req.Path, "/v2/"))
			}
			if sawAuth != tc.auth {
				t.Errorf("authenticated registry requests seen = %v, want %v", sawAuth, tc.auth)
			}
		})
	}
}

func TestRequestLogRecordsRange(t *testing.T) {
	t.Parallel()
	r := Start(t)
	img, err := fixtures.NewImage(7, 1, 2048, fixtures.Docker, fixtures.Gzip, amd64)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(t.Context(), "ranges", "latest", img); err != nil {
		t.Fatal(err)
	}
	r.ResetRequests()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, r.URL+"/v2/ranges/blobs/"+img.Layers[0].Digest.String(), nil)
	req.Header.Set("Range", "bytes=10-")
	resp, err := r.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := r.Requests()
	if len(reqs) != 1 || reqs[0].Status != http.StatusPartialContent || reqs[0].Range != "bytes=10-" {
		t.Fatalf("requests = %+v, want one 206 with Range bytes=10-", reqs)
	}
	if r.BlobGets() != 1 {
		t.Errorf("BlobGets = %d, want 1 (206 counts)", r.BlobGets())
	}
}

func TestStorageDirSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img, err := fixtures.NewImage(8, 1, 1024, fixtures.OCI, fixtures.Uncompressed, amd64)
	if err != nil {
		t.Fatal(err)
	}
	first := Start(t, WithStorageDir(dir))
	if err := first.Push(t.Context(), "keep", "me", img); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := Start(t, WithStorageDir(dir))
	status, hdr, _ := fetch(t, plainClient(second), second.URL+"/v2/keep/manifests/me", acceptAll, nil)
	if status != http.StatusOK || hdr.Get("Docker-Content-Digest") != img.ManifestDesc.Digest.String() {
		t.Fatalf("after restart: status %d digest %s", status, hdr.Get("Docker-Content-Digest"))
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	_, err := New(t.Context(), WithBasicAuth("a", "b"), WithTokenAuth("a", "b"))
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("basic+token: err = %v, want ErrInvalidArgument", err)
	}
	_, err = New(t.Context(), WithAddr("127.0.0.1:-1"))
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("bad address: err = %v, want ErrUnavailable", err)
	}
}
