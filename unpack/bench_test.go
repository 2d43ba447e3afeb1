package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var benchLayer = sync.OnceValues(func() ([]byte, digest.Digest) {
	// 12,800 files of 4 KiB of random bytes in 100 directories: ~50 MB,
	// and about as large compressed, like a layer of many small binaries.
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	rng := rand.NewChaCha8([32]byte{1})
	content := make([]byte, 4096)
	for d := range 100 {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("usr/lib/d%03d/", d), Mode: 0o755, ModTime: testTime})
		for f := range 128 {
			rng.Read(content)
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("usr/lib/d%03d/f%03d.so", d, f),
				Mode: 0o644, Size: int64(len(content)), ModTime: testTime})
			tw.Write(content)
		}
	}
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(raw.Bytes())
	zw.Close()
	return gz.Bytes(), digest.FromBytes(raw.Bytes())
})

// BenchmarkLayer extracts a ~50 MB gzip layer of many small files; MB/s is
// of the uncompressed stream.
func BenchmarkLayer(b *testing.B) {
	blob, diffID := benchLayer()
	var size int64
	for b.Loop() {
		st, err := Layer(context.Background(), tempRoot(b), bytes.NewReader(blob), ocispec.MediaTypeImageLayerGzip, diffID, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		size = st.Bytes
		b.SetBytes(size)
	}
	b.ReportMetric(float64(len(blob))/1e6, "MB-compressed")
}
