package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
)

// annotationContainerdName is where containerd, buildkit and docker 25
// put an image's full name in index.json, keeping ref.name for the tag.
const annotationContainerdName = "io.containerd.image.name"

// ociImages records the entries of an OCI layout's index.json. Their blobs
// went into the store, verified, while the archive was read; here each entry
// is checked to be complete (as a pull leaves it: every present manifest
// with its config and layers) and its layers against their diffIDs.
func (l *loader) ociImages(ctx context.Context) ([]pendingImage, error) {
	if b := l.meta[ociLayoutFile]; b != nil {
		var layout ocispec.ImageLayout
		if err := json.Unmarshal(b, &layout); err != nil {
			return nil, fmt.Errorf("parsing oci-layout: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if layout.Version != ocispec.ImageLayoutVersion {
			return nil, fmt.Errorf("oci-layout declares version %q, want %q: %w", layout.Version, ocispec.ImageLayoutVersion, errdefs.ErrUnsupported)
		}
	}
	var idx ocispec.Index
	if err := json.Unmarshal(l.meta[ociIndexFile], &idx); err != nil {
		return nil, fmt.Errorf("parsing index.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("index.json has schemaVersion %d, want 2: %w", idx.SchemaVersion, errdefs.ErrUnsupported)
	}
	archived := l.blobFiles()
	out := make([]pendingImage, 0, len(idx.Manifests))
	for i, e := range idx.Manifests {
		if _, ok := graph.Attached(ctx, l.st, e); ok {
			// A referrer (a signature, an SBOM), attached once the
			// images are named.
			if err := newCollector(l.st).collect(ctx, e); err != nil {
				return nil, fmt.Errorf("index.json entry %d (%s): %w", i+1, e.Digest, err)
			}
			out = append(out, pendingImage{entry: ocispec.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size}, attach: true})
			continue
		}
		img, err := l.ociImage(ctx, e, archived)
		if err != nil {
			return nil, fmt.Errorf("index.json entry %d (%s): %w", i+1, e.Digest, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func (l *loader) ociImage(ctx context.Context, e ocispec.Descriptor, archived map[digest.Digest]*archiveFile) (pendingImage, error) {
	var names []string
	name := e.Annotations[annotationContainerdName]
	if name == "" {
		name = e.Annotations[ocispec.AnnotationRefName]
	}
	// The OCI layout allows a bare tag as ref.name ("latest", "v1.0"); that
	// names no repository, so such an image is loaded without a name rather
	// than under a made-up docker.io/library/... one.
	if name != "" && strings.ContainsAny(name, "/:@") {
		ref, err := reference.Parse(name)
		if err != nil {
			return pendingImage{}, err
		}
		names = []string{ref.String()}
	}
	wk := newCollector(l.st)
	if err := wk.collect(ctx, e); err != nil {
		return pendingImage{}, err
	}
	for _, m := range wk.manifests {
		if err := l.checkDiffIDs(ctx, m, archived); err != nil {
			return pendingImage{}, err
		}
	}
	entry, err := l.ociEntry(ctx, e, wk.docs[e.Digest])
	if err != nil {
		return pendingImage{}, err
	}
	img, err := image.Load(ctx, l.st, entry, nil)
	if err != nil {
		return pendingImage{}, err
	}
	return pendingImage{names: names, id: img.ID(), entry: entry}, nil
}

// blobFiles indexes the files of the archive that went into the store by
// their digest.
func (l *loader) blobFiles() map[digest.Digest]*archiveFile {
	out := map[digest.Digest]*archiveFile{}
	for _, f := range l.files {
		if f.inStore {
			out[f.digest] = f
		}
	}
	return out
}

// checkDiffIDs compares the layers of m that came in this archive with the
// diffIDs of its config. Layers the store already had were checked when
// they arrived; layer types imagec cannot decompress are left alone.
func (l *loader) checkDiffIDs(ctx context.Context, m *ocispec.Manifest, archived map[digest.Digest]*archiveFile) error {
	raw, err := l.st.ReadBlob(ctx, m.Config.Digest, maxMetadata)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("parsing config %s: %v: %w", m.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("a manifest lists %d layers but its config %s %d diffIDs: %w",
			len(m.Layers), m.Config.Digest, len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	for i, layer := range m.Layers {
		f := archived[layer.Digest]
		compression, err := compress.ForMediaType(layer.MediaType)
		if f == nil || err != nil {
			continue
		}
		if compression != f.compression {
			return fmt.Errorf("layer %s has media type %s but its content is compressed as %q: %w",
				layer.Digest, layer.MediaType, f.compression, errdefs.ErrInvalidArgument)
		}
		if f.diffErr != nil {
			return fmt.Errorf("layer %s: %w", layer.Digest, f.diffErr)
		}
		if want := cfg.RootFS.DiffIDs[i]; f.diffID != want {
			return fmt.Errorf("layer %s: uncompressed content hashes to %s, the config's diffID is %s: %w",
				layer.Digest, f.diffID, want, errdefs.ErrDigestMismatch)
		}
	}
	return nil
}

// importedAnnotations are the annotations of an archive's index.json entry
// that are kept in the store's: not the name, which the store sets (and
// containerd's copy of it would go stale on a later rename), and none of
// imagec's own, which say what imagec verified and so can only come from
// imagec itself.
func importedAnnotations(in map[string]string) map[string]string {
	out := maps.Clone(in)
	delete(out, ocispec.AnnotationRefName)
	delete(out, annotationContainerdName)
	for k := range out {
		if strings.HasPrefix(k, graph.AnnotationPrefix) {
			delete(out, k)
		}
	}
	return out
}

// ociEntry is the index.json entry recorded for an archive's entry e (whose
// document is body): the same descriptor for an OCI manifest or index, a
// wrapping OCI index for a Docker manifest or manifest list, as a pull
// records them.
func (l *loader) ociEntry(ctx context.Context, e ocispec.Descriptor, body []byte) (ocispec.Descriptor, error) {
	if e.MediaType == ocispec.MediaTypeImageManifest || e.MediaType == ocispec.MediaTypeImageIndex {
		out := ocispec.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size, Platform: e.Platform}
		out.Annotations = importedAnnotations(e.Annotations)
		return out, nil
	}
	parsed, err := manifest.Parse(e.MediaType, body)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if parsed.Index != nil {
		return l.wrap(ctx, e.Digest, parsed.Index.Manifests)
	}
	raw, err := l.st.ReadBlob(ctx, parsed.Image.Config.Digest, maxMetadata)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading config: %w", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("parsing config %s: %v: %w", parsed.Image.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	child := ocispec.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size, Platform: image.PlatformOf(&cfg)}
	return l.wrap(ctx, e.Digest, []ocispec.Descriptor{child})
}
