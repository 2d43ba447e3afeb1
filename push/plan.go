package push

import (
	"context"
	"errors"
	"fmt"
	"sort"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
)

// plan is what a push sends: the blobs first, then the documents, each
// after every document it refers to, the top one last.
type plan struct {
	blobs []ocispec.Descriptor
	docs  []doc
}

// doc is a manifest or index to send, byte for byte.
type doc struct {
	desc ocispec.Descriptor
	body []byte
}

// makePlan walks the graph below top in src, by the content graph's rules:
// an index needs every manifest it lists (the destination refuses an index
// whose manifests it lacks, so a missing one is refused here, before
// anything is sent); a manifest its config and layers, except foreign
// (non-distributable) layers, which are not pushed.
func makePlan(ctx context.Context, src Source, top ocispec.Descriptor) (*plan, error) {
	p := &plan{}
	var depth []int
	err := graph.NewFetchWalker(fetcher{src}).Walk(ctx, top, func(ctx context.Context, n graph.Node) (bool, error) {
		switch {
		case n.Role == graph.RoleSource:
			return false, nil // imagec's own bookkeeping, never a registry's
		case n.Err != nil && n.Parent != "" && errors.Is(n.Err, errdefs.ErrNotFound):
			return false, fmt.Errorf("index %s lists %s%s, which %s does not hold (push one platform with --platform, or pull it first): %w",
				n.Parent, n.Desc.Digest, platformText(n.Desc), src, n.Err)
		case n.Err != nil:
			return false, n.Err
		case n.Role == graph.RoleLayer && manifest.IsForeign(n.Desc.MediaType):
			return false, nil // the destination's clients fetch it from its URLs, as docker push leaves it
		case n.Desc.Size == graph.UnknownSize:
			return false, fmt.Errorf("%s is a schema 1 manifest: its layers have no sizes to push with: %w", n.Parent, errdefs.ErrUnsupported)
		case n.Body == nil:
			p.blobs = append(p.blobs, n.Desc)
			return false, nil
		}
		p.docs = append(p.docs, doc{desc: n.Desc, body: n.Body})
		depth = append(depth, n.Depth)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// Deepest first: a document goes after every document it lists.
	order := make([]int, len(p.docs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return depth[order[a]] > depth[order[b]] })
	docs := make([]doc, len(p.docs))
	for i, j := range order {
		docs[i] = p.docs[j]
	}
	p.docs = docs
	return p, nil
}

// fetcher walks a Source: documents come from it verified; blobs are taken
// as their descriptors say (the destination verifies them on upload).
type fetcher struct{ src Source }

func (f fetcher) Size(_ context.Context, desc ocispec.Descriptor) (int64, error) {
	return max(desc.Size, 0), nil
}

func (f fetcher) Document(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	return f.src.Document(ctx, desc)
}

func platformText(d ocispec.Descriptor) string {
	if d.Platform == nil {
		return ""
	}
	return " (" + manifest.FormatPlatform(*d.Platform) + ")"
}
