package manifest

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
)

// Referrer is what a manifest or index says of itself as a referrer (OCI
// 1.1): the subject it names, and how a referrers list describes it.
type Referrer struct {
	// Subject is the manifest referred to.
	Subject ocispec.Descriptor
	// Listed is the document's descriptor as a referrers list gives it:
	// the descriptor it was read by, its artifactType (for a manifest
	// without one, its config's media type, as the distribution spec
	// says) and its annotations.
	Listed ocispec.Descriptor
}

// ReadReferrer reads body (the verified bytes of desc, an OCI manifest or
// index) for its subject. ok is false for a document without one (or of
// another media type: Docker's have no subject); a subject whose digest
// or size is malformed is errdefs.ErrInvalidArgument. Unlike Parse it
// accepts any artifact, since referrers are mostly not images.
func ReadReferrer(desc ocispec.Descriptor, body []byte) (r Referrer, ok bool, err error) {
	if desc.MediaType != ocispec.MediaTypeImageManifest && desc.MediaType != ocispec.MediaTypeImageIndex {
		return Referrer{}, false, nil
	}
	if len(body) > MaxSize {
		return Referrer{}, false, fmt.Errorf("%s of %d bytes exceeds the %d byte limit: %w", desc.Digest, len(body), MaxSize, errdefs.ErrTooLarge)
	}
	var doc struct {
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Referrer{}, false, fmt.Errorf("decode %s: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if doc.Subject == nil {
		return Referrer{}, false, nil
	}
	if err := validateDescriptor(*doc.Subject); err != nil {
		return Referrer{}, false, fmt.Errorf("%s: subject: %w", desc.Digest, err)
	}
	listed := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size,
		ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	if listed.ArtifactType == "" && doc.Config != nil && desc.MediaType == ocispec.MediaTypeImageManifest {
		listed.ArtifactType = doc.Config.MediaType
	}
	subject := ocispec.Descriptor{MediaType: doc.Subject.MediaType, Digest: doc.Subject.Digest, Size: doc.Subject.Size}
	return Referrer{Subject: subject, Listed: listed}, true, nil
}
