// Package gc removes from a store what no image name references: blobs,
// unpacked layers and abandoned partial downloads.
package gc

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
)

// Report says what a collection removed.
type Report struct {
	// Blobs removed and the bytes they held.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Ingest entries (partial downloads) pruned.
	Ingest int `json:"ingest"`
	// Extra is what Sweepers removed, by kind.
	Extra map[string]int `json:"extra,omitempty"`
}

// Sweeper removes what a part of the store keeps outside blobs/ (such as
// unpacked layers) and is no longer needed, given the blobs that stay. With
// dryRun it removes nothing and counts what it would remove.
type Sweeper func(ctx context.Context, live map[digest.Digest]bool, dryRun bool) (kind string, removed int, err error)

// Option configures Collect.
type Option func(*options)

type options struct {
	dryRun   bool
	sweepers []Sweeper
}

// WithDryRun reports what would be removed without removing it: the same
// counts, blobs, partial downloads and what each sweeper would take, that
// a collection run at that moment removes. Default false.
func WithDryRun(dry bool) Option { return func(o *options) { o.dryRun = dry } }

// WithSweeper adds a sweeper run after the blobs are marked. Default none.
func WithSweeper(s Sweeper) Option { return func(o *options) { o.sweepers = append(o.sweepers, s) } }

// Collect marks every blob reachable from the store's image names and
// removes the rest. It waits for running pulls to finish (their leases) and
// keeps new ones out while it works. A name whose documents cannot be read
// stops the collection, since what they reference is unknown: run fsck.
func Collect(ctx context.Context, st content.Store, opts ...Option) (*Report, error) {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	release, err := st.Exclusive(ctx)
	if err != nil {
		return nil, err
	}
	defer release()

	live := map[digest.Digest]bool{}
	orphans, err := walk(ctx, st, live, nil)
	if err != nil {
		return nil, err
	}
	if !o.dryRun {
		// Their subject is gone: the entries go, then their blobs with
		// the rest of what nothing reaches.
		for _, d := range orphans {
			if err := st.Detach(ctx, d); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return nil, fmt.Errorf("gc: detaching %s: %w", d, err)
			}
		}
	}
	rep := &Report{Extra: map[string]int{}}
	var dead []digest.Digest
	err = st.Walk(ctx, func(d digest.Digest, size int64) error {
		if !live[d] {
			dead = append(dead, d)
			rep.Blobs++
			rep.Bytes += size
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !o.dryRun {
		for _, d := range dead {
			if err := st.Delete(ctx, d); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return rep, fmt.Errorf("gc: removing %s: %w", d, err)
			}
		}
	}
	prune := st.PruneIngest
	if o.dryRun {
		prune = st.CountIngest
	}
	if rep.Ingest, err = prune(ctx); err != nil {
		return rep, fmt.Errorf("gc: pruning partial downloads: %w", err)
	}
	for _, sweep := range o.sweepers {
		kind, n, err := sweep(ctx, live, o.dryRun)
		if err != nil {
			return rep, fmt.Errorf("gc: %s: %w", kind, err)
		}
		rep.Extra[kind] += n
	}
	return rep, nil
}

// ForEachImage calls fn with every image manifest reachable from the
// store's names (each present child of an index, whatever platform it
// claims), once each: the same walk garbage collection marks by.
func ForEachImage(ctx context.Context, st content.Store, fn func(*ocispec.Manifest) error) error {
	_, err := walk(ctx, st, map[digest.Digest]bool{}, fn)
	return err
}

// walk marks in live every digest the graph reaches from the store's
// names, then from each attached entry whose subject is marked, until no
// more are (a signature of an attestation of an image). It returns the
// attached entries left unmarked: their subject is gone. A document that
// is stored but cannot be read stops it: what it references is unknown,
// so nothing may be collected.
func walk(ctx context.Context, st content.Store, live map[digest.Digest]bool, fn func(*ocispec.Manifest) error) ([]digest.Digest, error) {
	entries, err := st.Images(ctx)
	if err != nil {
		return nil, err
	}
	w := graph.NewWalker(st)
	mark := func(e ocispec.Descriptor) error {
		err := w.Walk(ctx, e, func(ctx context.Context, n graph.Node) (bool, error) {
			live[n.Desc.Digest] = true
			if n.Err != nil {
				return false, n.Err
			}
			if fn != nil && n.Doc != nil && n.Doc.Image != nil {
				return true, fn(n.Doc.Image)
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("gc: image %s: %w (run imagec fsck)", e.Annotations[ocispec.AnnotationRefName], err)
		}
		return nil
	}
	pending := map[digest.Digest]digest.Digest{} // attached entry -> its subject
	for _, e := range entries {
		if r, ok := graph.Attached(ctx, st, e); ok {
			pending[e.Digest] = r.Subject.Digest
			continue
		}
		if err := mark(e); err != nil {
			return nil, err
		}
	}
	for progressed := true; progressed; {
		progressed = false
		for _, e := range entries {
			subject, ok := pending[e.Digest]
			if !ok || !live[subject] {
				continue
			}
			delete(pending, e.Digest)
			progressed = true
			if err := mark(e); err != nil {
				return nil, err
			}
		}
	}
	var orphans []digest.Digest
	for d := range pending {
		orphans = append(orphans, d)
	}
	return orphans, nil
}
