package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// fuzzTokens are the components fuzzed names and link targets are made of,
// joined with "/": traversal, empty components (so "//" and leading "/"),
// whiteout prefixes, plain names, and "@OUT", which stands for the absolute
// host path of the directory beside the root.
var fuzzTokens = []string{"a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "@OUT", "sentinel", "outside", ".wh...", "a", "b", "dir"}

// fuzzLayers turns fuzz input into options and small layers:
// byte 0 picks the options, then each entry takes a type byte, a name
// (length byte + token bytes), a link target for links, and a content byte.
func fuzzLayers(data []byte, outside string) (Options, [][]ent) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	word := func() string {
		var parts []string
		for n := int(next()%4) + 1; n > 0; n-- {
			tok := fuzzTokens[int(next())%len(fuzzTokens)]
			if tok == "@OUT" {
				tok = outside
			}
			parts = append(parts, tok)
		}
		return strings.Join(parts, "/")
	}
	flags := next()
	opts := Options{NoSync: true, Unprivileged: boolp(flags&2 != 0 || os.Geteuid() != 0)}
	if flags&1 != 0 {
		opts.Whiteouts = WhiteoutOverlay
	}
	layers := [][]ent{nil}
	for count := 0; len(data) > 0 && count < 16; count++ {
		t := next()
		// Bit 2 of the flags puts every entry in a layer of its own, so
		// that one refused entry does not stop the ones after it.
		if (flags&4 != 0 || t&0x80 != 0) && len(layers[len(layers)-1]) > 0 {
			layers = append(layers, nil)
		}
		e := ent{name: word(), mode: int64(next()) << 4 & 0o7777}
		switch t % 7 {
		case 0:
			e.typ = tar.TypeDir
		case 1, 2:
			e.typ, e.body = tar.TypeReg, strings.Repeat("x", int(next()%8))
		case 3:
			e.typ, e.link = tar.TypeSymlink, word()
		case 4:
			e.typ, e.link = tar.TypeLink, word()
		case 5:
			e.typ = tar.TypeFifo
		case 6:
			e.typ, e.major, e.minor = tar.TypeChar, 1, 3
		}
		layers[len(layers)-1] = append(layers[len(layers)-1], e)
	}
	return opts, layers
}

// fuzzTar builds a tar of ents, dropping entries neither archive/tar nor
// the raw ustar writer can encode.
func fuzzTar(t *testing.T, ents []ent) []byte {
	var ok []ent
	for _, e := range ents {
		hdr := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: 0o644, Format: tar.FormatPAX}
		if tar.NewWriter(io.Discard).WriteHeader(hdr) == nil || (len(e.name) < 100 && len(e.link) < 100) {
			ok = append(ok, e)
		}
	}
	return mkTar(t, ok)
}

func FuzzApply(f *testing.F) {
	requireJail(f)
	seeds := [][]byte{
		{0, 1, 3, 0, 1, 5, 4, 2, 0, 8, 3},             // file ../outside
		{0, 3, 1, 4, 0, 2, 8, 10, 0, 1, 2, 4, 10},     // symlink a -> @OUT, file a/sentinel
		{1, 3, 1, 3, 0, 1, 6, 0, 1, 2, 0, 1, 0},       // overlay, symlink, opaque
		{0, 4, 1, 3, 0, 2, 8, 10},                     // hardlink to @OUT/sentinel
		{2, 0, 1, 3, 0, 0x81, 2, 2, 4, 0, 0, 1, 2, 0}, // two layers, whiteouts
		{0, 0x80, 3, 2, 3, 7, 0, 2, 2, 0, 3, 11, 0, 1},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		opts, layers := fuzzLayers(data, s.outside)
		before := s.snapshot(t)
		for _, l := range layers {
			// Later layers still go on top of a failed one: a partial
			// root is as good a starting point for an attack as any.
			_, err := Apply(context.Background(), s.root, bytes.NewReader(fuzzTar(t, l)), opts)
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
		}
		if d := diffSnapshots(before, s.snapshot(t)); len(d) > 0 {
			t.Fatalf("outside the root changed:\n%s", strings.Join(d, "\n"))
		}
		if readFile(t, s.sentinel) != "SENTINEL" {
			t.Fatal("sentinel changed")
		}
	})
}
