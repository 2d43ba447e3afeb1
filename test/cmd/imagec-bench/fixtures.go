package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/testregistry"
)

// fixture is one benchmark image: what it is like and how to build it.
type fixture struct {
	name  string // repository in the bench registry
	about string
	build func(scale float64) (*fixtures.Image, error)
}

// benchImages are the images the workloads pull and unpack.
var benchImages = []fixture{
	{"bench/toolchain", "a language toolchain: about 12,900 small files and a few large binaries in 3 gzip layers",
		func(s float64) (*fixtures.Image, error) { return toolchain(s, fixtures.Gzip) }},
	{"bench/large", "7 gzip layers, about 910 MB compressed, two of them incompressible",
		large},
	{"bench/toolchain-zstd", "the toolchain image with zstd layers",
		func(s float64) (*fixtures.Image, error) { return toolchain(s, fixtures.Zstd) }},
	{"bench/onelayer", "one incompressible gzip layer of about 63 MB: where one connection per blob is the limit on a shaped link",
		oneLayer},
}

// scaleImage is the image the store-scale workload pulls and names many
// times: small, so that what is timed is the store, not the image.
var scaleImage = fixture{"bench/small", "one small layer (40 files), the image the store-scale workload names many times",
	func(float64) (*fixtures.Image, error) {
		t := newTar()
		smallFiles(t, rand.New(rand.NewPCG(7, 8)), "etc/app/", 40)
		return fixtures.ImageFromTars(104, fixtures.OCI, fixtures.Gzip, benchPlatform, [][]byte{t.bytes()})
	}}

// Which fixtures a run uses unless -fixtures says: on loopback the three
// that have always been timed; on a shaped link the one-layer image alone,
// the case the shaping is for (the 910 MB image at 20 MB/s would take most
// of a minute a run for every tool).
const (
	defaultFixtures = "bench/toolchain,bench/large,bench/toolchain-zstd"
	shapedFixtures  = "bench/onelayer"
)

// selectFixtures returns the fixtures named in list (comma-separated), in
// the order given.
func selectFixtures(list string) ([]fixture, error) {
	var out []fixture
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(benchImages, func(f fixture) bool { return f.name == name })
		if i < 0 {
			var known []string
			for _, f := range benchImages {
				known = append(known, f.name)
			}
			return nil, fmt.Errorf("unknown fixture %q (known: %s)", name, strings.Join(known, ", "))
		}
		out = append(out, benchImages[i])
	}
	return out, nil
}

var benchPlatform = ocispec.Platform{OS: "linux", Architecture: "amd64"}

var benchTime = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// content kinds: how compressible a file is.
type kind int

const (
	text   kind = iota // source-like, compresses about 4:1
	binary             // executable-like, about 2:1
	random             // incompressible
)

var words = []string{"func", "return", "package", "import", "struct", "interface", "error", "context", "string",
	"int64", "byte", "nil", "if", "for", "range", "the", "of", "a", "buffer", "reader", "writer", "digest",
	"layer", "image", "manifest", "registry", "{", "}", "(", ")", "=", ":=", "\n", "\t", "//", "// TODO"}

func fill(rng *rand.Rand, k kind, n int) []byte {
	b := make([]byte, 0, n)
	switch k {
	case text:
		for len(b) < n {
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, ' ')
		}
	case binary:
		chunk := make([]byte, 64)
		for len(b) < n {
			if rng.IntN(2) == 0 {
				for i := range chunk {
					chunk[i] = byte(rng.IntN(256))
				}
			} else {
				for i := range chunk {
					chunk[i] = byte(i % 7)
				}
			}
			b = append(b, chunk...)
		}
	case random:
		b = b[:n]
		for i := 0; i+8 <= n; i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				b[i+j] = byte(v >> (8 * j))
			}
		}
	}
	return b[:n]
}

// tarBuilder writes a deterministic layer.
type tarBuilder struct {
	buf  bytes.Buffer
	tw   *tar.Writer
	dirs map[string]bool
}

func newTar() *tarBuilder {
	t := &tarBuilder{dirs: map[string]bool{}}
	t.tw = tar.NewWriter(&t.buf)
	return t
}

func (t *tarBuilder) dir(name string) {
	if name == "" || t.dirs[name] {
		return
	}
	for i := len(name) - 2; i > 0; i-- {
		if name[i] == '/' {
			t.dir(name[:i+1])
			break
		}
	}
	t.dirs[name] = true
	_ = t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: benchTime, Format: tar.FormatPAX})
}

func (t *tarBuilder) file(name string, mode int64, body []byte) {
	if i := lastSlash(name); i > 0 {
		t.dir(name[:i+1])
	}
	_ = t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: benchTime, Format: tar.FormatPAX})
	_, _ = t.tw.Write(body)
}

func (t *tarBuilder) symlink(name, target string) {
	_ = t.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: benchTime, Format: tar.FormatPAX})
}

func (t *tarBuilder) bytes() []byte {
	_ = t.tw.Close()
	return t.buf.Bytes()
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// smallFiles adds n files under dir with sizes typical of source trees.
func smallFiles(t *tarBuilder, rng *rand.Rand, dir string, n int) {
	for i := range n {
		size := 200 + int(rng.ExpFloat64()*9000)
		sub := fmt.Sprintf("%spkg%02d/mod%02d/", dir, i%37, (i/37)%23)
		t.file(fmt.Sprintf("%sfile%05d.go", sub, i), 0o644, fill(rng, text, size))
		if i%500 == 0 {
			t.symlink(fmt.Sprintf("%slink%05d", sub, i), fmt.Sprintf("file%05d.go", i))
		}
	}
}

func scaled(n int, s float64) int { return max(1, int(float64(n)*s)) }

func toolchain(s float64, c fixtures.Compression) (*fixtures.Image, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := newTar()
	smallFiles(base, rng, "usr/share/", scaled(3000, s))
	tool := newTar()
	smallFiles(tool, rng, "usr/local/go/src/", scaled(9500, s))
	for i := range 6 {
		tool.file(fmt.Sprintf("usr/local/go/pkg/tool/linux_amd64/tool%d", i), 0o755, fill(rng, binary, scaled(9<<20, s)))
	}
	app := newTar()
	smallFiles(app, rng, "app/", scaled(400, s))
	return fixtures.ImageFromTars(101, fixtures.OCI, c, benchPlatform, [][]byte{base.bytes(), tool.bytes(), app.bytes()})
}

func large(s float64) (*fixtures.Image, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	specs := []struct {
		k    kind
		size int
	}{{random, 400 << 20}, {binary, 300 << 20}, {binary, 200 << 20}, {random, 150 << 20}, {text, 200 << 20}, {binary, 60 << 20}, {text, 20 << 20}}
	var tars [][]byte
	for i, sp := range specs {
		t := newTar()
		total := scaled(sp.size, s)
		for f := 0; total > 0; f++ {
			n := min(total, 16<<20)
			t.file(fmt.Sprintf("opt/layer%d/blob%03d", i, f), 0o644, fill(rng, sp.k, n))
			total -= n
		}
		tars = append(tars, t.bytes())
	}
	return fixtures.ImageFromTars(102, fixtures.Docker, fixtures.Gzip, benchPlatform, tars)
}

// oneLayer is a single layer of random files: gzip cannot shrink it, so
// its compressed size is its content's (60 MiB, 63 MB, at scale 1).
func oneLayer(s float64) (*fixtures.Image, error) {
	rng := rand.New(rand.NewPCG(5, 6))
	t := newTar()
	total := scaled(60<<20, s)
	for f := 0; total > 0; f++ {
		n := min(total, 16<<20)
		t.file(fmt.Sprintf("opt/weights/shard%03d", f), 0o644, fill(rng, random, n))
		total -= n
	}
	return fixtures.ImageFromTars(103, fixtures.OCI, fixtures.Gzip, benchPlatform, [][]byte{t.bytes()})
}

// seed pushes each fixture under :latest.
func seed(ctx context.Context, reg *testregistry.Registry, fxs []fixture, scale float64, logf func(string, ...any)) (map[string]*fixtures.Image, error) {
	out := map[string]*fixtures.Image{}
	for _, f := range fxs {
		start := time.Now()
		img, err := f.build(scale)
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", f.name, err)
		}
		if err := reg.Push(ctx, f.name, "latest", img); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", f.name, err)
		}
		logf("fixture %s: %d layers, %.1f MB compressed (%s)", f.name, len(img.Layers), float64(compressed(img))/1e6, time.Since(start).Round(time.Second))
		out[f.name] = img
	}
	return out, nil
}

// compressed is the size of an image's layers as stored.
func compressed(img *fixtures.Image) int64 {
	var size int64
	for _, l := range img.Layers {
		size += l.Size
	}
	return size
}
