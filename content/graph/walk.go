package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
)

// MaxDepth bounds how deeply documents may nest below a root. Real images
// nest at most two levels (imagec's wrapper over a manifest list over
// manifests); the bound only keeps a hand-made store from sending a walk
// arbitrarily deep.
const MaxDepth = 8

// UnknownSize is the size of a descriptor whose document does not give one
// (the layers of a schema 1 manifest).
const UnknownSize = -1

// Role says what a descriptor is to the document that lists it.
type Role int

const (
	// RoleRoot: where the walk started (an index.json entry).
	RoleRoot Role = iota
	// RoleManifest: a manifest (or nested index) an index lists. A pull
	// stores one platform of an index, so the others may be absent.
	RoleManifest
	// RoleConfig: an image manifest's config.
	RoleConfig
	// RoleLayer: a layer of an image or schema 1 manifest.
	RoleLayer
	// RoleSource: the original document an imagec wrapper index was made
	// from (graph.AnnotationSourceBlob). Its media type is not recorded.
	RoleSource
)

func (r Role) String() string {
	switch r {
	case RoleRoot:
		return "manifest"
	case RoleManifest:
		return "index child"
	case RoleConfig:
		return "config"
	case RoleLayer:
		return "layer"
	case RoleSource:
		return "source document"
	}
	return fmt.Sprintf("role %d", int(r))
}

// Node is one descriptor a walk reached.
type Node struct {
	Desc ocispec.Descriptor
	Role Role
	// Parent is the document that listed Desc; "" for a root.
	Parent digest.Digest
	Depth  int
	// Stored is the size of the blob in the store, or -1 when the store
	// has none (absent, or not a blob).
	Stored int64
	// Body is the verified bytes of a stored document (an index, a
	// manifest, a schema 1 manifest), nil for anything else. Doc is its
	// decoding, nil for a document imagec does not interpret as an image
	// (an artifact: a manifest whose config is not an image config, or
	// whose layers are of other types), whose descriptors the walk still
	// follows.
	Body []byte
	Doc  *manifest.Parsed
	// Err says why a stored document could not be used: it does not
	// verify, does not parse, or nests deeper than MaxDepth.
	Err error
}

// Present reports whether the node's blob is stored with the size its
// descriptor states.
func (n Node) Present() bool {
	return n.Stored >= 0 && (n.Desc.Size == UnknownSize || n.Stored == n.Desc.Size)
}

// Optional reports whether a complete image may lack the node's blob: an
// index's other platforms, foreign (non-distributable) layers, which a pull
// records without fetching, and source documents.
func (n Node) Optional() bool {
	switch n.Role {
	case RoleManifest, RoleSource:
		return true
	case RoleLayer:
		return manifest.IsForeign(n.Desc.MediaType)
	}
	return false
}

// IsDocument reports whether a walk reads blobs of mediaType for what they
// refer to. "" (a source document) is read, its type taken from its bytes.
func IsDocument(mediaType string) bool {
	return mediaType == "" || manifest.IsIndex(mediaType) || manifest.IsImage(mediaType) || manifest.IsSchema1(mediaType)
}

// VisitFunc is called for each node; the children of a document are
// visited only if it returns true. An error stops the walk and is
// returned by it.
type VisitFunc func(ctx context.Context, n Node) (descend bool, err error)

// Walker walks the graph of one provider, visiting each digest once across
// all its walks.
type Walker struct {
	src  Fetcher
	seen map[digest.Digest]bool
}

// Fetcher is what a walk reads: the size of a blob as held (an error
// wrapping errdefs.ErrNotFound when absent) and the verified bytes of a
// document.
type Fetcher interface {
	Size(ctx context.Context, desc ocispec.Descriptor) (int64, error)
	Document(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)
}

// NewWalker returns a Walker over a content store.
func NewWalker(p content.Provider) *Walker { return NewFetchWalker(store{p}) }

// NewFetchWalker returns a Walker over any source of documents, such as a
// registry being copied from.
func NewFetchWalker(f Fetcher) *Walker {
	return &Walker{src: f, seen: map[digest.Digest]bool{}}
}

// store is a content.Provider as a Fetcher.
type store struct{ p content.Provider }

func (s store) Size(ctx context.Context, desc ocispec.Descriptor) (int64, error) {
	return s.p.Info(ctx, desc.Digest)
}

func (s store) Document(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	return s.p.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
}

// Walk visits root and what it refers to, depth first, children in the
// order their document lists them. A digest already visited (by this
// Walker) is not visited again.
func Walk(ctx context.Context, p content.Provider, root ocispec.Descriptor, visit VisitFunc) error {
	return NewWalker(p).Walk(ctx, root, visit)
}

// Walk visits root and what it refers to; see the function Walk.
func (w *Walker) Walk(ctx context.Context, root ocispec.Descriptor, visit VisitFunc) error {
	return w.walk(ctx, Node{Desc: root, Role: RoleRoot}, visit)
}

func (w *Walker) walk(ctx context.Context, n Node, visit VisitFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.seen[n.Desc.Digest] {
		return nil
	}
	w.seen[n.Desc.Digest] = true
	w.fill(ctx, &n)
	if err := ctx.Err(); err != nil {
		return err
	}
	descend, err := visit(ctx, n)
	if err != nil || !descend || n.Body == nil {
		return err
	}
	for _, child := range refs(n.Doc, n.Body) {
		child.Parent, child.Depth = n.Desc.Digest, n.Depth+1
		if err := w.walk(ctx, child, visit); err != nil {
			return err
		}
	}
	return nil
}

// fill looks the node's blob up and, for a stored document, reads and
// decodes it.
func (w *Walker) fill(ctx context.Context, n *Node) {
	n.Stored = -1
	if n.Desc.Digest.Validate() != nil {
		return
	}
	size, err := w.src.Size(ctx, n.Desc)
	if err != nil {
		return
	}
	n.Stored = size
	if !n.Present() || n.Role == RoleConfig || n.Role == RoleLayer || !IsDocument(n.Desc.MediaType) {
		return
	}
	if n.Depth > MaxDepth {
		n.Err = fmt.Errorf("%s nests more than %d levels deep: %w", n.Desc.Digest, MaxDepth, errdefs.ErrUnsupported)
		return
	}
	body, err := w.src.Document(ctx, n.Desc)
	if err != nil {
		n.Err = err
		return
	}
	parsed, err := manifest.Parse(n.Desc.MediaType, body)
	switch {
	case errors.Is(err, errdefs.ErrUnsupported):
		// Valid content imagec does not interpret as an image (an
		// artifact, an attestation, a layer type it cannot unpack).
		n.Body = body
	case err != nil:
		n.Err = fmt.Errorf("%s does not parse as %s: %w", n.Desc.Digest, mediaTypeName(n.Desc.MediaType), err)
	default:
		n.Body, n.Doc = body, parsed
	}
}

func mediaTypeName(mt string) string {
	if mt == "" {
		return "a manifest"
	}
	return mt
}

// IsArtifact reports whether n is a stored document that is not an image
// imagec interprets (see Node.Body).
func (n Node) IsArtifact() bool { return n.Body != nil && n.Doc == nil }

// artifactChildren lists the descriptors of a document imagec does not
// interpret as an image, read as generically as the OCI spec allows.
func artifactChildren(body []byte) []Node {
	var doc struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	var out []Node
	for _, m := range doc.Manifests {
		out = append(out, Node{Desc: m, Role: RoleManifest})
	}
	if doc.Config != nil {
		out = append(out, Node{Desc: *doc.Config, Role: RoleConfig})
	}
	for _, l := range doc.Layers {
		out = append(out, Node{Desc: l, Role: RoleLayer})
	}
	kept := out[:0]
	for _, c := range out {
		if c.Desc.Digest.Validate() == nil && c.Desc.Size >= 0 {
			kept = append(kept, c)
		}
	}
	return kept
}

// References lists what a document (bytes verified against desc) refers
// to: Children of what imagec interprets as an image, the descriptors of
// an artifact otherwise. A document that does not parse fails.
func References(desc ocispec.Descriptor, body []byte) ([]Node, *manifest.Parsed, error) {
	parsed, err := manifest.Parse(desc.MediaType, body)
	switch {
	case errors.Is(err, errdefs.ErrUnsupported):
		return artifactChildren(body), nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("%s does not parse as %s: %w", desc.Digest, mediaTypeName(desc.MediaType), err)
	}
	return Children(parsed), parsed, nil
}

func refs(doc *manifest.Parsed, body []byte) []Node {
	if doc != nil {
		return Children(doc)
	}
	return artifactChildren(body)
}

// Children lists what a document refers to, with their roles: an index's
// manifests and, for an imagec wrapper, the document it was made from; an
// image manifest's config and layers; a schema 1 manifest's layers, whose
// sizes it does not give.
func Children(doc *manifest.Parsed) []Node {
	var out []Node
	switch {
	case doc.Index != nil:
		for _, m := range doc.Index.Manifests {
			out = append(out, Node{Desc: m, Role: RoleManifest})
		}
		if src, ok := Source(doc.Index); ok {
			out = append(out, Node{Desc: ocispec.Descriptor{Digest: src, Size: UnknownSize}, Role: RoleSource})
		}
	case doc.Image != nil:
		out = append(out, Node{Desc: doc.Image.Config, Role: RoleConfig})
		for _, l := range doc.Image.Layers {
			out = append(out, Node{Desc: l, Role: RoleLayer})
		}
	case doc.Schema1 != nil:
		for _, l := range doc.Schema1.FSLayers {
			out = append(out, Node{Desc: ocispec.Descriptor{MediaType: manifest.MediaTypeDockerLayer, Digest: l.BlobSum, Size: UnknownSize}, Role: RoleLayer})
		}
	}
	return out
}
