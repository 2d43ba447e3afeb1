package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

func TestLayer(t *testing.T) {
	t.Parallel()
	raw := mkTar(t, []ent{dir("etc/"), file("etc/hostname", "box\n"), symlink("hn", "etc/hostname")})
	// Writers often pad past the end marker; the diffID covers the padding.
	padded := append(append([]byte{}, raw...), make([]byte, 10240)...)
	bigFile := mkTar(t, []ent{file("big", strings.Repeat("z", 1<<20))})
	tests := []struct {
		name      string
		mediaType string
		blob      []byte
		diffID    digest.Digest
		opts      Options
		want      error
	}{
		{name: "uncompressed", mediaType: ocispec.MediaTypeImageLayer, blob: raw, diffID: digest.FromBytes(raw)},
		{name: "gzip", mediaType: ocispec.MediaTypeImageLayerGzip, blob: gzipBytes(t, raw), diffID: digest.FromBytes(raw)},
		{name: "docker gzip", mediaType: manifest.MediaTypeDockerLayer, blob: gzipBytes(t, raw), diffID: digest.FromBytes(raw)},
		{name: "zstd", mediaType: ocispec.MediaTypeImageLayerZstd, blob: zstdBytes(t, raw), diffID: digest.FromBytes(raw)},
		{name: "trailing padding hashed", mediaType: ocispec.MediaTypeImageLayerGzip, blob: gzipBytes(t, padded), diffID: digest.FromBytes(padded)},
		{name: "padding not covered by diffID", mediaType: ocispec.MediaTypeImageLayerGzip, blob: gzipBytes(t, padded), diffID: digest.FromBytes(raw), want: errdefs.ErrDigestMismatch},
		{name: "sha512 diffID", mediaType: ocispec.MediaTypeImageLayer, blob: raw, diffID: digest.SHA512.FromBytes(raw)},
		{name: "digest mismatch", mediaType: ocispec.MediaTypeImageLayerZstd, blob: zstdBytes(t, raw), diffID: digest.FromString("other"), want: errdefs.ErrDigestMismatch},
		{name: "max size", mediaType: ocispec.MediaTypeImageLayerGzip, blob: gzipBytes(t, bigFile), diffID: digest.FromBytes(bigFile), opts: Options{MaxSize: 1 << 19}, want: errdefs.ErrTooLarge},
		{name: "max size counts padding", mediaType: ocispec.MediaTypeImageLayer, blob: padded, diffID: digest.FromBytes(padded), opts: Options{MaxSize: int64(len(raw) + 100)}, want: errdefs.ErrTooLarge},
		{name: "unknown media type", mediaType: "application/vnd.oci.image.layer.v1.tar+encrypted", blob: raw, diffID: digest.FromBytes(raw), want: errdefs.ErrUnsupported},
		{name: "invalid diffID", mediaType: ocispec.MediaTypeImageLayer, blob: raw, diffID: "sha256:nope", want: errdefs.ErrInvalidArgument},
		{name: "corrupt gzip", mediaType: ocispec.MediaTypeImageLayerGzip, blob: []byte("not gzip at all"), diffID: digest.FromBytes(raw), want: errdefs.ErrInvalidArgument},
		{name: "truncated zstd", mediaType: ocispec.MediaTypeImageLayerZstd, blob: zstdBytes(t, bigFile)[:200], diffID: digest.FromBytes(bigFile), want: errdefs.ErrInvalidArgument},
		// A frame header declaring a 1 TiB window (Window_Descriptor 0xF0:
		// exponent 30 => 2^40) followed by an empty last raw block.
		{name: "zstd huge window", mediaType: ocispec.MediaTypeImageLayerZstd,
			blob: []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf0, 0x01, 0x00, 0x00}, diffID: digest.FromBytes(nil), want: errdefs.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := tempRoot(t)
			opts := tt.opts
			opts.NoSync = true
			st, err := Layer(context.Background(), root, bytes.NewReader(tt.blob), tt.mediaType, tt.diffID, opts)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if !strings.HasPrefix(err.Error(), "unpack layer "+tt.diffID.String()) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q does not name the layer on one line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if readFile(t, filepath.Join(root, "etc/hostname")) != "box\n" {
				t.Error("content missing")
			}
			if st.Entries != 3 {
				t.Errorf("Entries = %d", st.Entries)
			}
			if want := int64(len(raw)); tt.name == "trailing padding hashed" {
				if st.Bytes != int64(len(padded)) {
					t.Errorf("Bytes = %d, want %d", st.Bytes, len(padded))
				}
			} else if st.Bytes != want {
				t.Errorf("Bytes = %d, want %d", st.Bytes, want)
			}
		})
	}
}

// TestGzipBomb runs alone (not parallel) so that the allocation count it
// measures is its own: a 256 MiB file compressed to a few hundred KiB must
// stop at MaxSize without buffering.
func TestGzipBomb(t *testing.T) {
	const size = 256 << 20
	var blob bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&blob, gzip.BestCompression)
	var hdr bytes.Buffer
	writeRawHeader(&hdr, &tar.Header{Typeflag: tar.TypeReg, Name: "bomb", Mode: 0o644, Size: size, ModTime: testTime})
	zw.Write(hdr.Bytes())
	zero := make([]byte, 1<<20)
	for range size / len(zero) {
		zw.Write(zero)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if blob.Len() > size/500 {
		t.Fatalf("bomb is %d bytes compressed, not a bomb", blob.Len())
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, err := Layer(context.Background(), tempRoot(t), &blob, ocispec.MediaTypeImageLayerGzip,
		digest.FromString("whatever"), Options{MaxSize: 16 << 20, NoSync: true})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errdefs.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if st.Bytes > 16<<20+1 {
		t.Errorf("read %d bytes past a 16 MiB limit", st.Bytes)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("allocated %d bytes extracting a bomb", alloc)
	}
}
