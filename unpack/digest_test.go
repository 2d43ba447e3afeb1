package unpack

import (
	"crypto/sha256"
	"path/filepath"
	"testing"
)

// FileDigest reports each regular file's final inode with the digest of
// the content written to it; a file written twice reports its last content,
// and a hardlink adds no report of its own.
func TestFileDigest(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	type id struct{ dev, ino uint64 }
	got := map[id][sha256.Size]byte{}
	calls := 0
	opts := Options{FileDigest: func(dev, ino uint64, sum [sha256.Size]byte) {
		got[id{dev, ino}] = sum
		calls++
	}}
	mustApply(t, root, []ent{
		dir("etc/"),
		file("etc/a", "first"),
		file("etc/a", "second"),
		file("etc/empty", ""),
		hardlink("etc/b", "etc/a"),
		symlink("etc/l", "a"),
	}, opts)
	if calls != 3 {
		t.Fatalf("%d reports, want 3 (two writes of etc/a, etc/empty)", calls)
	}
	for name, body := range map[string]string{"etc/a": "second", "etc/b": "second", "etc/empty": ""} {
		st := lstat(t, filepath.Join(root, name))
		if sum, ok := got[id{st.Dev, st.Ino}]; !ok || sum != sha256.Sum256([]byte(body)) {
			t.Fatalf("%s: reported %x (%v), want the digest of %q", name, sum, ok, body)
		}
	}
}
