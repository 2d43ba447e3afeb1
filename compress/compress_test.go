package compress

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/imagec/imagec/errdefs"
)

func compressed(t testing.TB, k Kind, raw []byte) []byte {
	t.Helper()
	switch k {
	case Gzip:
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	case Zstd:
		zw, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer zw.Close()
		return zw.EncodeAll(raw, nil)
	}
	return raw
}

func TestDetect(t *testing.T) {
	t.Parallel()
	raw := []byte("ustar and more")
	for _, tc := range []struct {
		head []byte
		want Kind
	}{
		{compressed(t, Gzip, raw), Gzip},
		{compressed(t, Zstd, raw), Zstd},
		{raw, None},
		{nil, None},
		{[]byte{0x1f}, None},
		{[]byte("BZh91AY&SY"), Other},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00, 0x00}, Other},
	} {
		if got := Detect(tc.head); got != tc.want {
			t.Errorf("Detect(%x) = %s, want %s", tc.head, got, tc.want)
		}
	}
}

func TestPeekKeepsEveryByte(t *testing.T) {
	t.Parallel()
	blob := compressed(t, Gzip, bytes.Repeat([]byte("x"), 100<<10))
	r, k := Peek(bytes.NewReader(blob))
	got, err := io.ReadAll(r)
	if k != Gzip || err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("Peek: kind %s, %d of %d bytes, %v", k, len(got), len(blob), err)
	}
}

func TestForMediaType(t *testing.T) {
	t.Parallel()
	for mt, want := range map[string]Kind{
		"application/vnd.oci.image.layer.v1.tar+zstd":       Zstd,
		"application/vnd.docker.image.rootfs.diff.tar.gzip": Gzip,
		"application/vnd.docker.image.rootfs.diff.tar":      None,
	} {
		if got, err := ForMediaType(mt); got != want || err != nil {
			t.Errorf("ForMediaType(%q) = %s, %v; want %s", mt, got, err, want)
		}
	}
	for _, mt := range []string{"", "application/vnd.oci.image.layer.v1.tar+gzip+encrypted", "application/vnd.oci.image.config.v1+json"} {
		if _, err := ForMediaType(mt); !errors.Is(err, errdefs.ErrUnsupported) {
			t.Errorf("ForMediaType(%q) error = %v, want ErrUnsupported", mt, err)
		}
		if _, err := NewMediaTypeReader(bytes.NewReader(nil), mt); !errors.Is(err, errdefs.ErrUnsupported) {
			t.Errorf("NewMediaTypeReader(%q) error = %v, want ErrUnsupported", mt, err)
		}
	}
}

func TestNewReader(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte("imagec "), 64<<10)
	big := compressed(t, Zstd, raw)
	tests := []struct {
		name string
		kind Kind
		blob []byte
		opts []Option
		want error // nil: reads back raw
	}{
		{"none", None, raw, nil, nil},
		{"gzip", Gzip, compressed(t, Gzip, raw), nil, nil},
		{"zstd", Zstd, big, nil, nil},
		{"multistream gzip", Gzip, append(compressed(t, Gzip, raw[:10]), compressed(t, Gzip, raw[10:])...), nil, nil},
		{"at the limit", Gzip, compressed(t, Gzip, raw), []Option{WithLimit(int64(len(raw)))}, nil},
		{"past the limit", Gzip, compressed(t, Gzip, raw), []Option{WithLimit(int64(len(raw)) - 1)}, errdefs.ErrTooLarge},
		{"zstd past the limit", Zstd, big, []Option{WithLimit(1 << 10)}, errdefs.ErrTooLarge},
		{"none past the limit", None, raw, []Option{WithLimit(10)}, errdefs.ErrTooLarge},
		{"not gzip", Gzip, []byte("not gzip at all"), nil, errdefs.ErrInvalidArgument},
		{"truncated gzip", Gzip, compressed(t, Gzip, raw)[:40], nil, errdefs.ErrInvalidArgument},
		{"truncated zstd", Zstd, big[:len(big)/2], nil, errdefs.ErrInvalidArgument},
		// A frame header declaring a 1 TiB window (Window_Descriptor 0xF0:
		// exponent 30 => 2^40) followed by an empty last raw block.
		{"zstd huge window", Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf0, 0x01, 0x00, 0x00}, nil, errdefs.ErrTooLarge},
		{"bzip2", Other, []byte("BZh91AY&SY"), nil, errdefs.ErrUnsupported},
		{"unknown", Kind("lz4"), raw, nil, errdefs.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewReader(bytes.NewReader(tt.blob), tt.kind, tt.opts...)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(r)
				if cerr := r.Close(); err == nil && cerr != nil {
					t.Errorf("Close: %v", cerr)
				}
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("read %d of %d bytes: %v", len(got), len(raw), err)
			}
		})
	}
}

func TestLimitCounts(t *testing.T) {
	t.Parallel()
	l := Limit(bytes.NewReader(make([]byte, 100)), 100)
	if n, err := io.Copy(io.Discard, l); n != 100 || err != nil || l.N() != 100 {
		t.Fatalf("copied %d (N %d): %v", n, l.N(), err)
	}
	l = Limit(bytes.NewReader(make([]byte, 101)), 100)
	if _, err := io.Copy(io.Discard, l); !errors.Is(err, errdefs.ErrTooLarge) || l.N() != 101 {
		t.Fatalf("N %d: %v, want ErrTooLarge after 101 bytes", l.N(), err)
	}
}

// BenchmarkReader decodes 16 MiB through NewReader and through the bare
// decoder with the same options, to show that the wrapping costs nothing
// measurable.
func BenchmarkReader(b *testing.B) {
	raw := make([]byte, 16<<20)
	rng := rand.NewChaCha8([32]byte{1})
	for i := 0; i < len(raw); i += 8 << 10 {
		rng.Read(raw[i : i+4<<10]) // half random, half zeros
	}
	for _, k := range []Kind{Gzip, Zstd} {
		blob := compressed(b, k, raw)
		b.Run(string(k)+"/compress", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				r, err := NewReader(bytes.NewReader(blob), k)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
		b.Run(string(k)+"/bare", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				var r io.ReadCloser
				if k == Gzip {
					r, _ = gzip.NewReader(bytes.NewReader(blob))
				} else {
					zr, _ := zstd.NewReader(bytes.NewReader(blob), zstd.WithDecoderConcurrency(1),
						zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderMaxMemory(MaxZstdWindow))
					r = zr.IOReadCloser()
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}
