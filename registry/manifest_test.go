package registry

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
)

func TestGetManifest(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2}`)
	dgst := digest.FromBytes(body)
	accept := []string{ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest}

	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/repo/app/manifests/v1":
			if got := r.Header.Get("Accept"); got != strings.Join(accept, ", ") {
				http.Error(w, "bad accept "+got, http.StatusBadRequest)
				return
			}
			if !strings.HasPrefix(r.Header.Get("User-Agent"), "imagec/") {
				http.Error(w, "bad user agent", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest+"; charset=utf-8")
			w.Header().Set("Docker-Content-Digest", dgst.String())
			w.Write(body)
		case "/v2/repo/app/manifests/" + dgst.String():
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
			w.Header().Set("Docker-Content-Digest", "garbage") // malformed: reported as ""
			w.Write(body)
		case "/v2/repo/app/manifests/huge":
			w.Header().Set("Content-Length", strconv.Itoa(MaxManifestSize+1))
			w.Write(bytes.Repeat([]byte{' '}, MaxManifestSize+1))
		case "/v2/repo/app/manifests/huge-chunked":
			chunk := bytes.Repeat([]byte{' '}, 1<<20)
			for range 5 {
				w.Write(chunk)
				w.(http.Flusher).Flush()
			}
		case "/v2/repo/app/manifests/denied":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusPaymentRequired) // only the code says DENIED
			w.Write([]byte(`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}`))
		}
	})
	c := newTestClient(t)

	tests := []struct {
		name       string
		ref        string
		wantDigest digest.Digest
		wantErr    error
	}{
		{"by tag", "repo/app:v1", dgst, nil},
		{"by digest with malformed header", "repo/app@" + dgst.String(), "", nil},
		{"too large by content-length", "repo/app:huge", "", errdefs.ErrTooLarge},
		{"too large chunked", "repo/app:huge-chunked", "", errdefs.ErrTooLarge},
		{"unknown", "repo/app:missing", "", errdefs.ErrNotFound},
		{"denied code", "repo/app:denied", "", errdefs.ErrDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := c.GetManifest(context.Background(), refOn(t, srv, tt.ref), accept)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetManifest: %v", err)
			}
			if m.MediaType != ocispec.MediaTypeImageManifest {
				t.Errorf("MediaType = %q", m.MediaType)
			}
			if !bytes.Equal(m.Body, body) {
				t.Errorf("Body = %q", m.Body)
			}
			if m.Digest != tt.wantDigest {
				t.Errorf("Digest = %q, want %q", m.Digest, tt.wantDigest)
			}
		})
	}
}

func TestGetManifestNotFoundError(t *testing.T) {
	t.Parallel()
	var hits counter
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		hits.hit()
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"},{"code":"NAME_UNKNOWN","message":"repository\nnot known"}]}`))
	})
	c := newTestClient(t)
	_, err := c.GetManifest(context.Background(), refOn(t, srv, "repo/app:tag"), nil)
	var regErr *Error
	if !errors.As(err, &regErr) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if !errors.Is(err, errdefs.ErrNotFound) || errdefs.IsRetryable(err) {
		t.Errorf("err = %v, want ErrNotFound, not retryable", err)
	}
	// The registry's text as sent: the CLI escapes the newline when it prints.
	want := "GET http://" + hostOf(srv) + "/v2/repo/app/manifests/tag: 404 Not Found: MANIFEST_UNKNOWN: manifest unknown; NAME_UNKNOWN: repository\nnot known"
	if err.Error() != want {
		t.Errorf("Error() =\n%q, want\n%q", err.Error(), want)
	}
	if len(regErr.Errors) != 2 || regErr.Errors[0].Code != "MANIFEST_UNKNOWN" {
		t.Errorf("Errors = %+v", regErr.Errors)
	}
	if got := hits.get(); got != 1 {
		t.Errorf("404 was requested %d times, want 1 (no retry)", got)
	}
}

func TestHeadManifest(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}`)
	dgst := digest.FromBytes(body)
	srv := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/library/alpine/manifests/3.20" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Method != http.MethodHead {
			http.Error(w, "want HEAD", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		w.Header().Set("Docker-Content-Digest", dgst.String())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	})
	c := newTestClient(t)
	desc, err := c.HeadManifest(context.Background(), refOn(t, srv, "library/alpine:3.20"), []string{ocispec.MediaTypeImageIndex})
	if err != nil {
		t.Fatalf("HeadManifest: %v", err)
	}
	want := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: dgst, Size: int64(len(body))}
	if desc.MediaType != want.MediaType || desc.Digest != want.Digest || desc.Size != want.Size {
		t.Errorf("descriptor = %+v, want %+v", desc, want)
	}

	_, err = c.HeadManifest(context.Background(), refOn(t, srv, "library/alpine:missing"), nil)
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing: err = %v, want ErrNotFound", err)
	}
}
