package testregistry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// fixtureTime is the timestamp of every file and config in fixtures, so the
// same seed always yields the same bytes.
var fixtureTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// filesPerLayer is how many regular files share a layer's payload.
const filesPerLayer = 3

// layerTar builds layer i of an image from seed: a few directories, a file
// every layer overwrites (so unpack order matters), filesPerLayer files of
// pseudo-random bytes totalling size, and a symlink.
func layerTar(seed int64, i, size int) ([]byte, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := fmt.Sprintf("layer%d/", i)

	add := func(hdr *tar.Header, body []byte) error {
		hdr.ModTime = fixtureTime
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing tar header %s: %w", hdr.Name, err)
		}
		if _, err := tw.Write(body); err != nil {
			return fmt.Errorf("writing tar entry %s: %w", hdr.Name, err)
		}
		return nil
	}
	entries := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: "etc/fixture-layer", Mode: 0o644}, fmt.Appendf(nil, "seed %d layer %d\n", seed, i)},
		{tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeDir, Name: dir + "data/", Mode: 0o750}, nil},
	}
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		if err := add(&h, e.body); err != nil {
			return nil, err
		}
	}
	for f := range filesPerLayer {
		n := size / filesPerLayer
		if f == filesPerLayer-1 {
			n = size - n*(filesPerLayer-1)
		}
		body := make([]byte, n)
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%sdata/file%d.bin", dir, f), Mode: 0o644, Size: int64(n)}
		if err := add(h, body); err != nil {
			return nil, err
		}
	}
	link := &tar.Header{Typeflag: tar.TypeSymlink, Name: dir + "latest", Linkname: "data/file0.bin", Mode: 0o777}
	if err := add(link, nil); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

// compress encodes a tar stream. Both encoders are deterministic for a
// given library version, which keeps fixture digests stable.
func compress(c Compression, raw []byte) ([]byte, error) {
	switch c {
	case Uncompressed:
		return raw, nil
	case Gzip:
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf) // no name or mtime in the header
		if _, err := zw.Write(raw); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case Zstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer enc.Close()
		return enc.EncodeAll(raw, nil), nil
	default:
		return nil, fmt.Errorf("unknown compression %d", c)
	}
}

// newLayer compresses raw and fills in every digest of the layer.
func newLayer(mediaType string, c Compression, raw []byte) (Layer, error) {
	data, err := compress(c, raw)
	if err != nil {
		return Layer{}, err
	}
	return Layer{
		MediaType: mediaType,
		Data:      data,
		Digest:    digest.FromBytes(data),
		DiffID:    digest.FromBytes(raw),
		Size:      int64(len(data)),
	}, nil
}
