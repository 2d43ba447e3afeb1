package fsck

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/layers"
)

// unpackedStore holds one two-layer image with both layers unpacked in the
// layer area, and returns the store, the layer area and the chain IDs.
func unpackedStore(t *testing.T) (*local.Store, *layers.Store, []digest.Digest) {
	t.Helper()
	ctx := context.Background()
	tarOf := func(files ...string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, f := range files {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f, Mode: 0o644, Size: int64(len(f))})
			tw.Write([]byte(f))
		}
		tw.Close()
		return buf.Bytes()
	}
	fix, err := fixtures.ImageFromTars(9, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"},
		[][]byte{tarOf("etc/base", "etc/other"), tarOf("etc/top")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range fix.Layers {
		if err := st.WriteBlob(ctx, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}, l.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.WriteBlob(ctx, fix.ConfigDesc, fix.Config); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteBlob(ctx, fix.ManifestDesc, fix.Manifest); err != nil {
		t.Fatal(err)
	}
	if err := st.SetImage(ctx, nameApp, fix.ManifestDesc); err != nil {
		t.Fatal(err)
	}
	entry, err := st.Image(ctx, nameApp)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Load(ctx, st, entry, nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layers.OpenArea(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.Ensure(ctx, img, 2); err != nil {
		t.Fatal(err)
	}
	return st, ls, image.ChainIDs(img.Config.RootFS.DiffIDs)
}

// An unpacked layer edited after it was made is reported; repair removes
// that layer directory only, leaving every blob and name alone.
func TestFsckCorruptLayer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, ls *layers.Store, chain digest.Digest)
		detail string
	}{
		{"content", func(t *testing.T, ls *layers.Store, chain digest.Digest) {
			if err := os.WriteFile(filepath.Join(ls.Path(chain), "diff", "etc", "base"), []byte("ETC/BASE"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, `"etc/base" differs from the record`},
		{"no record", func(t *testing.T, ls *layers.Store, chain digest.Digest) {
			if err := os.Remove(filepath.Join(ls.Path(chain), "record")); err != nil {
				t.Fatal(err)
			}
		}, "no record"},
		{"no diff", func(t *testing.T, ls *layers.Store, chain digest.Digest) {
			if err := os.RemoveAll(filepath.Join(ls.Path(chain), "diff")); err != nil {
				t.Fatal(err)
			}
		}, "diff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, ls, chains := unpackedStore(t)
			if r := check(t, st); len(r.Problems) != 0 || r.Layers != 2 {
				t.Fatalf("before the damage: %v, %d layers", summary(r), r.Layers)
			}
			tc.damage(t, ls, chains[0])
			r := check(t, st)
			if got := summary(r); !slices.Equal(got, want(line(KindCorruptLayer, chains[0]))) {
				t.Fatalf("problems %v", got)
			}
			p := r.Problems[0]
			if p.Path != ".imagec/layers/"+chains[0].Encoded() || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("problem %+v", p)
			}
			r = check(t, st, WithRepair(true))
			if !r.Problems[0].Repaired || !slices.Equal(r.Repaired, []string{"removed unpacked layer " + chains[0].String()}) {
				t.Fatalf("repair: %+v %v", r.Problems, r.Repaired)
			}
			if _, err := os.Lstat(ls.Path(chains[0])); !os.IsNotExist(err) {
				t.Fatalf("layer directory still there: %v", err)
			}
			if r := check(t, st); len(r.Problems) != 0 || r.Layers != 1 || r.Images != 1 || r.Blobs != 4 {
				t.Fatalf("after repair: %v, %d layers, %d images, %d blobs", summary(r), r.Layers, r.Images, r.Blobs)
			}
		})
	}
}

// A store nothing was ever unpacked into has no layer area, and a check
// (even a repair) does not create one.
func TestFsckNoLayerArea(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	check(t, f.st, WithRepair(true))
	if _, err := os.Lstat(filepath.Join(f.st.Root(), layersDir)); !os.IsNotExist(err) {
		t.Fatalf("layer area: %v", err)
	}
}
