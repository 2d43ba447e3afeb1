package verify_test

import (
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"strings"
	"testing"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/internal/signtest"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/verify"
)

// A pull with a verifier names only what the policy accepts. For a
// Docker-typed image the signature names the registry's manifest, not the
// index imagec wraps it in; a refused image gets no name, and its layers
// were never fetched.
func TestPullVerifies(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	e := newEnv(t, fixtures.Docker)
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := verify.New(e.client, keyPolicy(t, key), verify.WithChecker(helper(t)))
	p := pull.New(e.client, st)
	_, err = p.Pull(ctx, e.ref, pull.WithVerifier(v))
	if !errors.Is(err, errdefs.ErrUntrusted) || !strings.Contains(err.Error(), "no signature") {
		t.Fatalf("unsigned pull: %v", err)
	}
	if _, err := st.Image(ctx, e.ref.String()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("refused image was named: %v", err)
	}
	l := e.img.Layers[0]
	if st.Has(ctx, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}) {
		t.Error("a refused image's layer was fetched")
	}

	pl := signtest.Payload(e.repo, e.digest())
	ann, _ := key.SignPayload(pl)
	e.pushLegacy(t, [][]byte{pl}, []map[string]string{ann})
	res, err := p.Pull(ctx, e.ref, pull.WithVerifier(v))
	if err != nil {
		t.Fatalf("signed pull: %v", err)
	}
	if res.Digest != e.digest() {
		t.Fatalf("pulled %s, signed %s", res.Digest, e.digest())
	}
	entry, err := st.Image(ctx, e.ref.String())
	if err != nil || entry.Digest == e.digest() {
		t.Fatalf("entry %v (%v): want imagec's wrapper of the Docker manifest", entry.Digest, err)
	}
	// Up to date, and still checked: another key refuses it.
	if _, err := p.Pull(ctx, e.ref, pull.WithVerifier(verify.New(e.client, keyPolicy(t, mustKey(t)), verify.WithChecker(helper(t))))); !errors.Is(err, errdefs.ErrUntrusted) {
		t.Fatalf("up-to-date pull with another key: %v", err)
	}
}
