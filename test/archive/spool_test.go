package archive_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/archive"
	"github.com/imagec/imagec/internal/flock"
)

// TestSpoolDirectories: a load removes its own spool directory and those
// of loads that died, never one in use or just created.
func TestSpoolDirectories(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	private := filepath.Join(st.Root(), ".imagec")
	old := time.Now().Add(-time.Hour)
	mkdir := func(name string, lock bool, mtime time.Time) {
		dir := filepath.Join(private, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if lock {
			if err := os.WriteFile(filepath.Join(dir, "lock"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "file-1"), []byte("spooled"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("tmp-load-dead", true, old)
	mkdir("tmp-load-nolock", false, old)
	mkdir("tmp-load-fresh", true, time.Now())
	mkdir("tmp-load-busy", true, old)
	busy, err := os.Open(filepath.Join(private, "tmp-load-busy", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := flock.TryLock(busy, flock.Exclusive); err != nil {
		t.Fatal(err)
	}

	// A legacy archive has files that are spooled.
	if _, err := archive.Load(context.Background(), st, bytes.NewReader(writeTar(t, newLegacyArchive(t).entries))); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(private)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp-load-") {
			left = append(left, e.Name())
		}
	}
	slices.Sort(left)
	if !slices.Equal(left, []string{"tmp-load-busy", "tmp-load-fresh"}) {
		t.Fatalf("spool directories left: %v", left)
	}
}
