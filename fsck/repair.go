package fsck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/imagec/imagec/errdefs"
)

// repair fixes what the check found. Names are removed before any blob is
// deleted, the reverse of a pull (which names an image only once its content
// is stored), so no reader meets a name whose blob has just been deleted.
// Everything deleted is first checked to be the very file that was judged,
// because pulls may be running alongside.
func (c *checker) repair(ctx context.Context) error {
	removed := map[string]bool{}
	for _, p := range c.problems {
		if (p.Kind != KindDanglingName && p.Kind != KindMisnamed) || !p.removable {
			continue
		}
		if err := c.removeName(ctx, p); err != nil {
			return err
		}
		removed[p.Name] = p.Repaired
	}
	var stale []*tracked
	for _, p := range c.problems {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch p.Kind {
		case KindCorruptBlob:
			if p.rel == "" {
				continue // found corrupt only during the walk: not verified as a whole file
			}
			if c.removeFile(p) {
				c.did("deleted corrupt blob %s", p.Digest)
			}
		case KindStrayFile:
			if c.removeFile(p) {
				c.did("deleted stray file %s", p.Path)
			}
		case KindMissingBlob, KindSizeMismatch, KindUnreadableManifest:
			// Nothing to do to the blob itself: the problem is that names
			// depend on it, and it is resolved once none does.
			p.Repaired = len(p.needers) > 0
			for _, n := range p.needers {
				p.Repaired = p.Repaired && removed[n]
			}
		case KindCorruptLayer:
			c.removeLayer(p)
		case KindStaleIngest:
			stale = append(stale, p)
		}
	}
	return c.pruneIngest(ctx, stale)
}

// removeName removes the name of a dangling entry if it still points to the
// content found incomplete; a name a concurrent pull has just re-recorded is
// left alone.
func (c *checker) removeName(ctx context.Context, p *tracked) error {
	cur, err := c.st.Image(ctx, p.Name)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		p.Repaired = true // removed by someone else meanwhile
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		p.Detail += fmt.Sprintf("; repair failed: %v", err)
		return nil
	case cur.Digest != p.entry.Digest:
		p.Detail += fmt.Sprintf("; not removed: the name now points to %s (run fsck again)", cur.Digest)
		return nil
	}
	err = c.st.RemoveImage(ctx, p.Name)
	switch {
	case err == nil || errors.Is(err, errdefs.ErrNotFound):
		p.Repaired = true
		c.did("removed name %s", p.Name)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		p.Detail += fmt.Sprintf("; repair failed: %v", err)
	}
	return nil
}

// removeFile deletes the file the check judged (recursively if it is a
// directory) if it is still there, and records the outcome on p. It
// reports whether it deleted anything.
func (c *checker) removeFile(p *tracked) bool {
	removed, err := c.st.RemoveIfSame(p.rel, p.file)
	switch {
	case err != nil:
		p.Detail += fmt.Sprintf("; repair failed: %v", err)
		return false
	case removed:
		p.Repaired = true
		return true
	}
	// Gone already, or replaced while fsck ran.
	if _, serr := c.st.Stat(p.rel); errors.Is(serr, fs.ErrNotExist) {
		p.Repaired = true
	} else {
		p.Detail += "; not deleted: the file was replaced while fsck ran (run fsck again)"
	}
	return false
}

// pruneIngest removes the stale ingest entries through the store, which
// takes each entry's lock before removing it, so an entry a pull has picked
// up since the scan is left alone.
func (c *checker) pruneIngest(ctx context.Context, stale []*tracked) error {
	if len(stale) == 0 {
		return nil
	}
	if _, err := c.st.PruneIngest(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, p := range stale {
			p.Detail += fmt.Sprintf("; repair failed: %v", err)
		}
		return nil
	}
	left, err := c.st.IngestEntries(ctx)
	if err != nil {
		return err
	}
	still := map[string]bool{}
	for _, e := range left {
		still[e.Rel] = !e.Held
	}
	for _, p := range stale {
		if still[p.Path] {
			p.Detail += "; not pruned"
			continue
		}
		p.Repaired = true
		c.did("pruned stale ingest entry %s", p.Path)
	}
	return nil
}

func (c *checker) did(format string, args ...any) {
	c.report.Repaired = append(c.report.Repaired, fmt.Sprintf(format, args...))
}
