package local

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/contenttest"
	"github.com/imagec/imagec/internal/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	contenttest.Run(t, func(t *testing.T) contenttest.Harness {
		s := newStore(t)
		return contenttest.Harness{Store: s, Tamper: tamperer{s}}
	})
}

// tamperer damages the layout's files directly, as another program could.
type tamperer struct{ s *Store }

func (tp tamperer) SymlinkBlob(t *testing.T, d digest.Digest, target string) {
	t.Helper()
	p := tp.s.Path(d)
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func (tp tamperer) TruncateBlob(t *testing.T, d digest.Digest, size int64) {
	t.Helper()
	p := tp.s.Path(d)
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
}

func (tp tamperer) SymlinkIngest(t *testing.T, desc ocispec.Descriptor, target string) {
	t.Helper()
	entry := filepath.Join(tp.s.Root(), ".imagec", "ingest", string(desc.Digest.Algorithm())+"-"+desc.Digest.Encoded())
	if err := os.MkdirAll(entry, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(entry, "data")); err != nil {
		t.Fatal(err)
	}
}

func (tp tamperer) ForgeName(t *testing.T, name string, desc ocispec.Descriptor) {
	storetest.ForgeName(t, tp.s.Root(), name, desc)
}
