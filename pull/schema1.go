package pull

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
)

// pullSchema1 pulls a legacy schema 1 image the way docker did: the layers
// bottom-up without the empty (throwaway) ones, their diffIDs computed from
// the data, and an image config built from the v1 history, whose digest is
// the image ID docker shows. The image is recorded as an equivalent schema 2
// manifest so other OCI tools can read it; the signed original is kept too,
// and its digest stays the one the reference resolves to.
func (j *job) pullSchema1(ctx context.Context, top *document) (*Result, error) {
	layers, err := top.parsed.Schema1.Layers()
	if err != nil {
		return nil, fmt.Errorf("schema1 manifest %s: %w", top.desc.Digest, err)
	}
	sizes := map[digest.Digest]int64{}
	var descs []ocispec.Descriptor
	for _, l := range layers {
		if l.Empty {
			continue
		}
		size, ok := sizes[l.BlobSum]
		if !ok {
			// Schema 1 does not say how large a layer is; ask, so that
			// the download is bounded like any other.
			if size, err = j.client.StatBlob(ctx, j.source(), l.BlobSum); err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.BlobSum, err)
			}
			sizes[l.BlobSum] = size
		}
		descs = append(descs, ocispec.Descriptor{MediaType: manifest.MediaTypeDockerLayer, Digest: l.BlobSum, Size: size})
	}
	// The hook needs diffIDs, which schema 1 only yields after download.
	hook := j.opts.layerHook
	j.opts.layerHook = nil
	err = j.fetchLayers(ctx, descs, nil)
	j.opts.layerHook = hook
	if err != nil {
		return nil, err
	}

	diffIDs := make([]digest.Digest, len(descs))
	known := map[digest.Digest]digest.Digest{}
	for i, d := range descs {
		if id, ok := known[d.Digest]; ok {
			diffIDs[i] = id
			continue
		}
		if diffIDs[i], err = j.diffID(ctx, d.Digest); err != nil {
			return nil, err
		}
		known[d.Digest] = diffIDs[i]
	}
	config, err := manifest.Schema1Config(top.parsed.Schema1, diffIDs)
	if err != nil {
		return nil, fmt.Errorf("schema1 manifest %s: %w", top.desc.Digest, err)
	}
	cfgDesc := ocispec.Descriptor{MediaType: manifest.MediaTypeDockerConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	if err := j.p.store.WriteBlob(ctx, cfgDesc, config); err != nil {
		return nil, fmt.Errorf("storing config %s: %w", cfgDesc.Digest, err)
	}

	converted, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: manifest.MediaTypeDockerManifest,
		Config:    cfgDesc,
		Layers:    descs,
	})
	if err != nil {
		return nil, err
	}
	conv := &document{
		desc: ocispec.Descriptor{MediaType: manifest.MediaTypeDockerManifest, Digest: digest.FromBytes(converted), Size: int64(len(converted))},
		body: converted,
	}
	// The signed bytes hash to their own digest; the schema 1 digest covers
	// only the canonical payload, so it is kept as an annotation.
	original := &document{
		desc: ocispec.Descriptor{MediaType: top.desc.MediaType, Digest: digest.FromBytes(top.body), Size: int64(len(top.body))},
		body: top.body,
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("schema1 manifest %s: built config: %v: %w", top.desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	child := conv.desc
	child.Platform = image.PlatformOf(&cfg)
	wrapper, entry, err := wrapIndex(original.desc.Digest, []ocispec.Descriptor{child})
	if err != nil {
		return nil, err
	}
	if err := j.record(ctx, entry, conv, original, wrapper); err != nil {
		return nil, err
	}
	return &Result{Reference: j.ref, Digest: top.desc.Digest, Manifest: conv.desc, ImageID: cfgDesc.Digest}, nil
}

// diffID decompresses a stored gzip layer and hashes the tar stream. Only
// schema 1 needs this at pull time: its manifest carries no config with
// diffIDs to check against.
func (j *job) diffID(ctx context.Context, d digest.Digest) (digest.Digest, error) {
	f, err := j.p.store.Open(ctx, d)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// A layer inflating beyond this is a decompression bomb, not a layer.
	limit := max(j.p.inflateFloor, j.p.inflateRatio*f.Size())
	zr, err := compress.NewReader(f, compress.Gzip, compress.WithLimit(limit))
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", d, err)
	}
	defer zr.Close()
	h := digest.Canonical.Digester()
	if _, err := io.Copy(h.Hash(), ctxReader{ctx, zr}); err != nil {
		return "", fmt.Errorf("layer %s: decompressing: %w", d, err)
	}
	return h.Digest(), nil
}

// ctxReader stops a long read loop when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
