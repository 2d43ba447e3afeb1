package server

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/manifest"
)

// reached is a descriptor a stored name of a repository reaches: what
// the repository may serve, present or not.
type reached struct {
	// desc has the digest, the size (from the listing document, or the
	// stored blob's where the document gives none) and, for a document,
	// the media type the document declares.
	desc ocispec.Descriptor
	// document: a stored manifest or index that verified, served under
	// /manifests/ as well as /blobs/.
	document bool
}

// reachSet is what one repository's names reach, as of sig (the
// repository's entries when it was walked).
type reachSet struct {
	sig   string
	nodes map[digest.Digest]reached
	// referrers lists, by subject, the reached documents that name one
	// (the repository's referrers answer).
	referrers map[digest.Digest][]ocispec.Descriptor
}

// reachCache keeps each repository's reach set until its names change.
// Content under a digest never changes, so a set stays right for what it
// lists; what it lacks (a manifest stored since, by a pull-through) is
// looked for again with a fresh walk on a miss (see lookup).
type reachCache struct {
	mu   sync.Mutex
	sets map[string]*reachSet
}

// lookup finds d among what rp's names reach. On a miss, or where want
// is not met, it walks once more: the store may have gained documents
// since the set was made.
func (c *reachCache) lookup(ctx context.Context, p content.Provider, rp *repo, d digest.Digest, want func(reached) bool) (reached, bool, error) {
	if set := c.cached(rp); set != nil {
		if n, ok := set.nodes[d]; ok && want(n) {
			return n, true, nil
		}
	}
	set, err := c.walk(ctx, p, rp)
	if err != nil {
		return reached{}, false, err
	}
	n, ok := set.nodes[d]
	return n, ok && want(n), nil
}

// get returns rp's reach set, walking the repository if its names changed.
func (c *reachCache) get(ctx context.Context, p content.Provider, rp *repo) (*reachSet, error) {
	if set := c.cached(rp); set != nil {
		return set, nil
	}
	return c.walk(ctx, p, rp)
}

func (c *reachCache) cached(rp *repo) *reachSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if set := c.sets[rp.name]; set != nil && set.sig == signature(rp) {
		return set
	}
	return nil
}

func (c *reachCache) walk(ctx context.Context, p content.Provider, rp *repo) (*reachSet, error) {
	set, err := walkRepo(ctx, p, rp, signature(rp))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sets[rp.name] = set
	c.mu.Unlock()
	return set, nil
}

// signature identifies a repository's entries (names and digests) and
// the store's attached ones.
func signature(rp *repo) string {
	var b strings.Builder
	for i, e := range rp.entries {
		b.WriteString(rp.refs[i].String())
		b.WriteByte('=')
		b.WriteString(e.Digest.String())
		b.WriteByte(';')
	}
	for _, e := range rp.attached {
		b.WriteString(e.Digest.String())
		b.WriteByte(';')
	}
	return b.String()
}

// walkRepo walks the graph of rp's names, then of the attached entries
// whose subject it reached (referrers of referrers in turn, to
// graph.DefaultReferrerDepth levels). imagec's wrapper indexes are walked
// through but not listed: they are not what the registry served, and no
// client asks for them.
func walkRepo(ctx context.Context, p content.Provider, rp *repo, sig string) (*reachSet, error) {
	set := &reachSet{sig: sig, nodes: map[digest.Digest]reached{}, referrers: map[digest.Digest][]ocispec.Descriptor{}}
	w := graph.NewWalker(p)
	visit := func(_ context.Context, n graph.Node) (bool, error) {
		if n.Err != nil || n.Desc.Digest.Validate() != nil {
			return false, nil
		}
		if n.Doc != nil && n.Doc.Index != nil {
			if _, wrapped := graph.Source(n.Doc.Index); wrapped {
				return true, nil
			}
		}
		r := reached{desc: ocispec.Descriptor{MediaType: n.Desc.MediaType, Digest: n.Desc.Digest, Size: n.Desc.Size}}
		if r.desc.Size == graph.UnknownSize {
			if n.Stored < 0 {
				return true, nil // a schema 1 layer not stored: its size is unknown
			}
			r.desc.Size = n.Stored
		}
		if n.Body != nil {
			r.document = true
			r.desc.MediaType = documentType(n)
			if _, seen := set.nodes[r.desc.Digest]; !seen {
				if ref, ok, err := manifest.ReadReferrer(r.desc, n.Body); ok && err == nil {
					set.referrers[ref.Subject.Digest] = append(set.referrers[ref.Subject.Digest], ref.Listed)
				}
			}
		}
		set.nodes[r.desc.Digest] = r
		return true, nil
	}
	for _, e := range rp.entries {
		if err := w.Walk(ctx, e, visit); err != nil {
			return nil, err
		}
	}
	pending := rp.attached
	for range graph.DefaultReferrerDepth {
		var later []ocispec.Descriptor
		for _, e := range pending {
			if _, done := set.nodes[e.Digest]; done {
				continue
			}
			ref, ok := graph.Attached(ctx, p, e)
			if !ok {
				continue
			}
			if _, reachedSubject := set.nodes[ref.Subject.Digest]; !reachedSubject {
				later = append(later, e)
				continue
			}
			if err := w.Walk(ctx, e, visit); err != nil {
				return nil, err
			}
		}
		if len(later) == len(pending) {
			break
		}
		pending = later
	}
	return set, nil
}

// documentType is the media type a stored document declares (what a
// registry answers it with), else the one it was listed with.
func documentType(n graph.Node) string {
	if n.Doc != nil && n.Doc.MediaType != "" {
		return n.Doc.MediaType
	}
	var doc struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(n.Body, &doc) == nil && doc.MediaType != "" {
		return doc.MediaType
	}
	if n.Desc.MediaType != "" {
		return n.Desc.MediaType
	}
	return ocispec.MediaTypeImageManifest
}
