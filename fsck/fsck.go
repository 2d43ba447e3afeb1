// Package fsck checks an imagec store for consistency and repairs what it
// can. It verifies every blob against its digest, walks every index.json
// entry down to its manifests, configs and layers, looks for files in blobs/
// that are not blobs, verifies every unpacked layer against the record made
// when it was unpacked, and finds partial downloads no process is writing.
//
// Repair only ever removes things: corrupt blobs, stray files, names whose
// content is incomplete, unpacked layers that differ from their records,
// and stale ingest entries. Nothing it removes can be used as it is, and a
// later pull (pull --unpack for a layer) fetches or rebuilds whatever a
// removed name or layer needed.
package fsck

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/content/local"
)

// Kind names a class of problem. The values are stable: they are printed by
// `imagec fsck` and appear in its JSON output.
type Kind string

const (
	// KindCorruptBlob: a file in blobs/ does not hash to the digest it is
	// named after.
	KindCorruptBlob Kind = "corrupt-blob"
	// KindUnreadableBlob: a blob could not be read (an I/O error), so its
	// content could not be verified. Repair leaves it alone.
	KindUnreadableBlob Kind = "unreadable-blob"
	// KindMissingBlob: an image needs a blob the store does not hold.
	KindMissingBlob Kind = "missing-blob"
	// KindSizeMismatch: a descriptor gives a size other than the size of the
	// (intact) blob it points to, so the document holding it is wrong.
	KindSizeMismatch Kind = "size-mismatch"
	// KindUnreadableManifest: a manifest, index or config blob is intact but
	// does not parse.
	KindUnreadableManifest Kind = "unreadable-manifest"
	// KindStrayFile: something under blobs/ that is not named by a valid
	// digest, or is not a regular file.
	KindStrayFile Kind = "stray-file"
	// KindStaleIngest: a partial download whose lock no process holds. It
	// is not damage (the next pull of the blob resumes it; a kill -9 leaves
	// one) but takes space, so it is listed in Report.Resumable rather than
	// among the problems; repair (and gc) prune it.
	KindStaleIngest Kind = "stale-ingest"
	// KindDanglingName: an index.json entry whose content is incomplete:
	// some blob it needs is missing, corrupt or unreadable.
	KindDanglingName Kind = "dangling-name"
	// KindMisnamed: a name that pins a digest (repo@sha256:…) points at
	// content with another digest, as another program may have written it.
	// Repair removes the name; no command serves content under it.
	KindMisnamed Kind = "misnamed"
	// KindCorruptLayer: an unpacked layer (.imagec/layers/<chain id>) that
	// differs from the record made when it was unpacked, or whose record
	// is missing (an older imagec made it), damaged or another layer's, so
	// nothing vouches for its content. unpack does not use it; repair
	// removes it and a later pull --unpack unpacks it again from its blob.
	KindCorruptLayer Kind = "corrupt-layer"
)

// Problem is one inconsistency found in the store.
type Problem struct {
	Kind Kind `json:"kind"`
	// Digest is the blob concerned; for a dangling name, the digest the
	// name points to; for an unpacked layer, its chain ID.
	Digest digest.Digest `json:"digest,omitempty"`
	// Name is the image name concerned, if any: for a blob, the first
	// image found needing it.
	Name string `json:"name,omitempty"`
	// Path is the file concerned, relative to the store root, for stray
	// files, ingest entries and unpacked layers.
	Path   string `json:"path,omitempty"`
	Detail string `json:"detail"`
	// Repaired reports that a repair resolved the problem.
	Repaired bool `json:"repaired,omitempty"`
}

// String renders p as one line: "KIND SUBJECT : DETAIL", the subject being
// the name for a dangling name, the path for a stray file, else the digest.
func (p Problem) String() string {
	subject := string(p.Digest)
	switch {
	case (p.Kind == KindDanglingName || p.Kind == KindMisnamed) && p.Name != "":
		subject = p.Name
	case p.Kind == KindStrayFile || subject == "":
		subject = p.Path
	}
	if subject == "" {
		subject = "-"
	}
	s := fmt.Sprintf("%s %s : %s", p.Kind, subject, p.Detail)
	if p.Repaired {
		s += " (repaired)"
	}
	return s
}

// Report is the outcome of Check.
type Report struct {
	// Blobs is how many blobs were verified, Images how many index.json
	// entries were walked, Layers how many unpacked layers were verified.
	Blobs    int       `json:"blobs"`
	Images   int       `json:"images"`
	Layers   int       `json:"layers"`
	Problems []Problem `json:"problems"`
	// Resumable are partial downloads no process is writing
	// (KindStaleIngest): not problems, since a later pull resumes them.
	Resumable []Problem `json:"resumable"`
	// Repaired lists what a repair did, one action per line
	// ("deleted corrupt blob sha256:…", "removed name …").
	Repaired []string `json:"repaired"`
}

// Remaining returns the problems a repair did not resolve (all of them when
// Check ran without repair).
func (r *Report) Remaining() []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if !p.Repaired {
			out = append(out, p)
		}
	}
	return out
}

// Option configures Check.
type Option func(*options)

type options struct {
	repair bool
}

// WithRepair makes Check fix what it finds: delete corrupt blobs and stray
// files, remove index.json names whose content is missing, corrupt or
// unreadable, remove unpacked layers that fail their records, and prune
// ingest entries no process holds. Ingest entries whose
// lock is held (a pull in progress) are never touched. Default: false, Check
// only reports.
func WithRepair(repair bool) Option {
	return func(o *options) { o.repair = repair }
}

// Check verifies the store st and, with WithRepair(true), repairs it. The
// problems found are in the report, not the error: an error means the check
// itself could not run (the store cannot be read, ctx ended, or blobs are
// not readable with this user's permissions).
//
// Blobs are hashed as streams, never read whole. Index children that are
// absent are skipped, because a pull of a multi-platform index stores only
// the chosen platform; so are absent foreign (non-distributable) layers,
// which a pull records without fetching. An index none of whose manifests is
// in the store makes its name dangling. Every file of every unpacked layer
// is read and hashed too, to compare the layer with its record.
//
// Check may run while pulls are in progress: names are only removed if they
// still point to the content found incomplete.
func Check(ctx context.Context, st *local.Store, opts ...Option) (*Report, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	c := newChecker(st)
	if err := c.scanBlobs(ctx); err != nil {
		return nil, err
	}
	if err := c.walkImages(ctx); err != nil {
		return nil, err
	}
	if err := c.scanLayers(ctx); err != nil {
		return nil, err
	}
	if err := c.scanIngest(ctx); err != nil {
		return nil, err
	}
	if o.repair {
		if err := c.repair(ctx); err != nil {
			return nil, err
		}
	}
	c.report.Problems, c.report.Resumable = []Problem{}, []Problem{}
	for _, tp := range c.problems {
		if tp.Kind == KindStaleIngest {
			c.report.Resumable = append(c.report.Resumable, tp.Problem)
		} else {
			c.report.Problems = append(c.report.Problems, tp.Problem)
		}
	}
	if c.report.Repaired == nil {
		c.report.Repaired = []string{}
	}
	return &c.report, nil
}
