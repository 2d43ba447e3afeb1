package testregistry

import (
	"encoding/json"
	"fmt"

	"github.com/imagec/imagec/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildKit's annotations marking an attestation manifest inside an index.
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	ReferenceTypeAttestation  = "attestation-manifest"
	mediaTypeInToto           = "application/vnd.in-toto+json"
)

// Index is a fixture Docker manifest list or OCI image index.
type Index struct {
	MediaType string
	Images    []*Image
	// Attestations are the attestation manifests an OCI index also lists
	// (platform unknown/unknown), pushed by PushIndex with the images.
	Attestations []*Image
	Body         []byte
	Desc         ocispec.Descriptor
}

// NewIndex lists imgs with their platforms, as a Docker manifest list or an
// OCI index. An OCI index also gets, like BuildKit output, an attestation
// manifest for the first image: platform unknown/unknown, annotated
// vnd.docker.reference.type=attestation-manifest.
func NewIndex(f Format, imgs ...*Image) (*Index, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("fixture index without images: %w", errdefs.ErrInvalidArgument)
	}
	idx := &Index{MediaType: ocispec.MediaTypeImageIndex, Images: imgs}
	if f == Docker {
		idx.MediaType = MediaTypeDockerManifestList
	}
	body := ocispec.Index{MediaType: idx.MediaType}
	body.SchemaVersion = 2
	for _, img := range imgs {
		body.Manifests = append(body.Manifests, img.ManifestDesc)
	}
	if f == OCI {
		att, err := newAttestation(imgs[0].ManifestDesc.Digest)
		if err != nil {
			return nil, err
		}
		idx.Attestations = append(idx.Attestations, att)
		d := att.ManifestDesc
		d.Annotations = map[string]string{
			AnnotationReferenceType:   ReferenceTypeAttestation,
			AnnotationReferenceDigest: imgs[0].ManifestDesc.Digest.String(),
		}
		body.Manifests = append(body.Manifests, d)
	}
	var err error
	if idx.Body, err = json.MarshalIndent(body, "", "   "); err != nil {
		return nil, fmt.Errorf("fixture index: %w", err)
	}
	idx.Desc = descriptorFor(idx.MediaType, idx.Body)
	return idx, nil
}

// newAttestation builds a small in-toto provenance attestation for subject,
// shaped like BuildKit's: an OCI manifest whose one layer is the statement.
func newAttestation(subject digest.Digest) (*Image, error) {
	stmt, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://slsa.dev/provenance/v0.2",
		"subject":       []map[string]any{{"name": "_", "digest": map[string]string{"sha256": subject.Encoded()}}},
		"predicate":     map[string]any{"builder": map[string]string{"id": "imagec-testregistry"}},
	})
	if err != nil {
		return nil, fmt.Errorf("fixture attestation: %w", err)
	}
	unknown := ocispec.Platform{Architecture: "unknown", OS: "unknown"}
	img := &Image{Format: OCI, Platform: unknown}
	img.Layers = []Layer{{
		MediaType: mediaTypeInToto,
		Data:      stmt,
		Digest:    digest.FromBytes(stmt),
		DiffID:    digest.FromBytes(stmt),
		Size:      int64(len(stmt)),
	}}
	cfg := ocispec.Image{Platform: unknown, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{img.Layers[0].DiffID}}}
	if img.Config, err = json.Marshal(cfg); err != nil {
		return nil, fmt.Errorf("fixture attestation config: %w", err)
	}
	img.ConfigDesc = descriptorFor(ocispec.MediaTypeImageConfig, img.Config)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: img.ConfigDesc}
	m.SchemaVersion = 2
	m.Layers = []ocispec.Descriptor{{
		MediaType:   mediaTypeInToto,
		Digest:      img.Layers[0].Digest,
		Size:        img.Layers[0].Size,
		Annotations: map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
	}}
	if img.Manifest, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("fixture attestation manifest: %w", err)
	}
	img.ManifestDesc = descriptorFor(ocispec.MediaTypeImageManifest, img.Manifest)
	img.ManifestDesc.Platform = &unknown
	return img, nil
}
