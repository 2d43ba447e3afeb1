package fsck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/imagec/imagec/layers"
)

// scanLayers verifies every unpacked layer against its record. The record
// is what the layer held when imagec unpacked it from its verified blob; a
// layer that differs, or has no intact record, is one unpack will not use.
func (c *checker) scanLayers(ctx context.Context) error {
	if !c.st.HasPrivateDir(layers.AreaName) {
		return nil // never unpacked into; do not create the area
	}
	ls, err := layers.OpenArea(c.st)
	if err != nil {
		return fmt.Errorf("fsck %s: %w", c.st.Root(), err)
	}
	chains, err := ls.Chains()
	if err != nil {
		return fmt.Errorf("fsck %s: %w", c.st.Root(), err)
	}
	for _, chain := range chains {
		path := ls.Path(chain)
		fi, err := os.Lstat(path)
		if err != nil {
			continue // removed since it was listed (gc, or another repair)
		}
		c.report.Layers++
		verr := ls.Verify(ctx, chain)
		switch {
		case verr == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		}
		if now, err := os.Lstat(path); err != nil || !os.SameFile(fi, now) {
			continue // removed or replaced while it was read: judge it next time
		}
		rel, err := filepath.Rel(c.st.Root(), path)
		if err != nil {
			return err
		}
		c.add(&tracked{Problem: Problem{Kind: KindCorruptLayer, Digest: chain, Path: filepath.ToSlash(rel), Detail: layerDetail(chain.String(), verr)}, layer: fi})
	}
	return nil
}

// layerDetail is the verification error without the chain ID the problem
// already names.
func layerDetail(chain string, err error) string {
	return strings.TrimPrefix(err.Error(), "unpacked layer "+chain+": ") + "; unpack does not use it"
}

// removeLayer deletes an unpacked layer that failed its record, if it is
// still the directory that was judged. A later pull --unpack unpacks it
// again from its blob.
func (c *checker) removeLayer(p *tracked) {
	ls, err := layers.OpenArea(c.st)
	if err != nil {
		p.Detail += fmt.Sprintf("; repair failed: %v", err)
		return
	}
	fi, err := os.Lstat(ls.Path(p.Digest))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.Repaired = true
		return
	case err != nil:
		p.Detail += fmt.Sprintf("; repair failed: %v", err)
		return
	case !os.SameFile(fi, p.layer):
		p.Detail += "; not removed: the layer was replaced while fsck ran (run fsck again)"
		return
	}
	if err := ls.Remove(p.Digest); err != nil {
		p.Detail += fmt.Sprintf("; repair failed: %v", err)
		return
	}
	p.Repaired = true
	c.did("removed unpacked layer %s", p.Digest)
}
