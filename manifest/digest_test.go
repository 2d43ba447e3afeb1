package manifest

import (
	_ "crypto/sha512" // registers sha384 and sha512 with go-digest
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
)

func TestDigestAs(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2}`)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512} {
		got, err := DigestAs(alg, ocispec.MediaTypeImageManifest, body)
		if err != nil || got != alg.FromBytes(body) {
			t.Errorf("DigestAs(%s) = %s, %v; want %s", alg, got, err, alg.FromBytes(body))
		}
	}
	if _, err := DigestAs("blake3", ocispec.MediaTypeImageManifest, body); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("DigestAs(blake3) error %v, want ErrUnsupported", err)
	}
}
