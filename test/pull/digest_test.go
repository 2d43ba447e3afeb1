package pull_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/faultproxy"
)

// serveBySHA512 makes the proxy answer a manifest GET for sha512 (which
// Distribution does not index) with the manifest it stores under sha256.
func serveBySHA512(e *faultEnv, sha512 digest.Digest) *faultproxy.Fault {
	return &faultproxy.Fault{Kind: faultproxy.Manifest,
		Match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/manifests/"+sha512.String()) },
		Rewrite: func(r *http.Request) {
			r.URL.Path = strings.TrimSuffix(r.URL.Path, sha512.String()) + e.img.ManifestDesc.Digest.String()
		},
	}
}

// A pull by a sha512 digest verifies the manifest with sha512, records it
// under that digest and is up to date the second time.
func TestPullBySHA512Digest(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, nil)
	want := digest.SHA512.FromBytes(e.img.Manifest)
	e.proxy.Inject(serveBySHA512(e, want))
	ref := e.ref.WithDigest(want)
	if !strings.Contains(ref.String(), "@sha512:") {
		t.Fatalf("reference %s", ref)
	}
	res, err := e.puller.Pull(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != want || res.ImageID != e.img.ConfigDesc.Digest {
		t.Fatalf("result digest %s image %s, want %s and %s", res.Digest, res.ImageID, want, e.img.ConfigDesc.Digest)
	}
	blob := filepath.Join(e.store.Root(), "blobs", "sha512", want.Encoded())
	if b, err := os.ReadFile(blob); err != nil || digest.SHA512.FromBytes(b) != want {
		t.Fatalf("manifest not stored under its sha512 digest: %v", err)
	}
	verifyStore(t, e.store)
	if res, err = e.puller.Pull(context.Background(), ref); err != nil || !res.UpToDate {
		t.Fatalf("second pull: %+v %v, want up to date", res, err)
	}
}

// Content that does not hash to the sha512 asked for is refused as a digest
// mismatch, and nothing is recorded.
func TestPullBySHA512DigestMismatch(t *testing.T) {
	t.Parallel()
	e := newFaultEnv(t, nil)
	other, err := fixtures.NewImage(23, 1, 1024, fixtures.Docker, fixtures.Gzip, linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	want := digest.SHA512.FromBytes(e.img.Manifest)
	swap := serveBySHA512(e, want)
	swap.Apply = faultproxy.Replace(faultproxy.Manifest, 0, other.ManifestDesc.MediaType, other.Manifest).Apply
	e.proxy.Inject(swap)
	_, err = e.puller.Pull(context.Background(), e.ref.WithDigest(want))
	if !errors.Is(err, errdefs.ErrDigestMismatch) || !strings.Contains(err.Error(), "sha512:") {
		t.Fatalf("got %v, want a digest mismatch naming the sha512 digest", err)
	}
	if imgs, err := e.store.Images(context.Background()); err != nil || len(imgs) != 0 {
		t.Fatalf("recorded %v", imgs)
	}
}
