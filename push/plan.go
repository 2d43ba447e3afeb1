package push

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
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

// makePlan reads the graph below top from src, by the content graph's
// rules: an index needs every manifest it lists (the destination refuses
// an index whose manifests it lacks, so a missing one is refused here,
// before anything is sent); a manifest its config and layers, except
// foreign (non-distributable) layers, which are not pushed.
func makePlan(ctx context.Context, src Source, top ocispec.Descriptor) (*plan, error) {
	p := &plan{}
	seen := map[digest.Digest]bool{}
	if err := p.add(ctx, src, top, "", 0, seen); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *plan) add(ctx context.Context, src Source, desc ocispec.Descriptor, parent digest.Digest, depth int, seen map[digest.Digest]bool) error {
	if seen[desc.Digest] {
		return nil
	}
	seen[desc.Digest] = true
	if depth > graph.MaxDepth {
		return fmt.Errorf("%s nests more than %d levels deep: %w", desc.Digest, graph.MaxDepth, errdefs.ErrUnsupported)
	}
	body, err := src.Document(ctx, desc)
	if err != nil {
		if parent != "" && errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("index %s lists %s%s, which %s does not hold (push one platform with --platform, or pull it first): %w",
				parent, desc.Digest, platformText(desc), src, err)
		}
		return err
	}
	kids, _, err := graph.References(desc, body)
	if err != nil {
		return err
	}
	for _, k := range kids {
		switch {
		case k.Role == graph.RoleManifest:
			if err := p.add(ctx, src, k.Desc, desc.Digest, depth+1, seen); err != nil {
				return err
			}
		case k.Role == graph.RoleLayer && manifest.IsForeign(k.Desc.MediaType):
			// Non-distributable: the destination's clients fetch it from
			// its URLs, as docker push leaves it.
		case k.Desc.Size == graph.UnknownSize:
			return fmt.Errorf("%s is a schema 1 manifest: its layers have no sizes to push with: %w", desc.Digest, errdefs.ErrUnsupported)
		case !seen[k.Desc.Digest]:
			seen[k.Desc.Digest] = true
			p.blobs = append(p.blobs, k.Desc)
		}
	}
	p.docs = append(p.docs, doc{desc: desc, body: body})
	return nil
}

func platformText(d ocispec.Descriptor) string {
	if d.Platform == nil {
		return ""
	}
	return " (" + manifest.FormatPlatform(*d.Platform) + ")"
}
