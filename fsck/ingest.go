package fsck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/internal/flock"
)

// ingestDir holds partial downloads, one <alg>-<hex>/{data,lock} directory
// per blob being (or once being) written; see local.Writer.
const ingestDir = ".imagec/ingest"

// scanIngest reports the ingest entries no writer holds. A held entry is a
// download in progress and is not looked at any further.
func (c *checker) scanIngest(ctx context.Context) error {
	dir := filepath.Join(c.st.Root(), ingestDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsck %s: %w", c.st.Root(), err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.IsDir() {
			continue
		}
		stale, size, err := staleIngest(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("fsck %s: ingest entry %s: %w", c.st.Root(), e.Name(), err)
		}
		if !stale {
			continue
		}
		c.add(&tracked{Problem: Problem{
			Kind:   KindStaleIngest,
			Digest: ingestDigest(e.Name()),
			Path:   filepath.ToSlash(filepath.Join(ingestDir, e.Name())),
			Detail: fmt.Sprintf("partial download of %d bytes that no process is writing (a later pull of the blob resumes it)", size),
		}})
	}
	return nil
}

// staleIngest reports whether the ingest entry dir is stale (it exists and
// its lock is free) and how much partial data it holds.
func staleIngest(dir string) (bool, int64, error) {
	held, err := flock.Held(filepath.Join(dir, "lock"))
	if err != nil || held {
		return false, 0, err
	}
	fi, err := os.Stat(filepath.Join(dir, "data"))
	switch {
	case err == nil:
		return true, fi.Size(), nil
	case errors.Is(err, fs.ErrNotExist):
		// No data: a writer that died before writing, or an entry half
		// removed. Stale all the same, unless the whole entry is gone.
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return false, 0, nil
		}
		return true, 0, nil
	default:
		return false, 0, err
	}
}

// ingestDigest turns an entry name (<alg>-<hex>) back into the digest being
// downloaded, or "" if it is not one.
func ingestDigest(name string) digest.Digest {
	alg, enc, ok := strings.Cut(name, "-")
	if !ok {
		return ""
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
	if d.Validate() != nil {
		return ""
	}
	return d
}
