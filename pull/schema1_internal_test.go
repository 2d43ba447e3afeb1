package pull

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
)

func gzipped(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The diffID of a schema 1 layer is computed by inflating it; a layer that
// inflates past the bound is refused as a decompression bomb rather than
// hashed to the end.
func TestSchema1DiffIDInflateBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := New(nil, st)
	// 1 MiB floor, 10x ratio: 8 MiB of zeros (a few KiB gzipped) is a bomb,
	// 64 KiB of zeros is not.
	p.inflateFloor, p.inflateRatio = 1<<20, 10
	j := &job{p: p}
	for _, tc := range []struct {
		name string
		raw  []byte
		bomb bool
	}{
		{"within the bound", make([]byte, 64<<10), false},
		{"past the bound", make([]byte, 8<<20), true},
	} {
		blob := gzipped(t, tc.raw)
		desc := ocispec.Descriptor{MediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
		if err := st.WriteBlob(ctx, desc, blob); err != nil {
			t.Fatal(err)
		}
		got, err := j.diffID(ctx, desc.Digest)
		switch {
		case tc.bomb && !errors.Is(err, errdefs.ErrTooLarge):
			t.Errorf("%s: diffID = %s, %v; want ErrTooLarge", tc.name, got, err)
		case !tc.bomb && (err != nil || got != digest.FromBytes(tc.raw)):
			t.Errorf("%s: diffID = %s, %v; want %s", tc.name, got, err, digest.FromBytes(tc.raw))
		}
	}
}
