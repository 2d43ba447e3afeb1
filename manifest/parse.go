package manifest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Parsed is a decoded manifest document; exactly one of Image, Index and
// Schema1 is set, according to MediaType.
type Parsed struct {
	// MediaType is the document's type as decided by Parse: from a specific
	// Content-Type, else from the body. For schema 1 it is
	// MediaTypeDockerSchema1Signed exactly when the body carries signatures.
	MediaType string
	Image     *ocispec.Manifest
	Index     *ocispec.Index
	Schema1   *Schema1
}

// genericContentTypes are Content-Types that say nothing about the document:
// registries and static file servers use them for manifests they do not
// label, so the body has to decide.
var genericContentTypes = map[string]bool{
	"":                         true,
	"application/json":         true,
	"text/plain":               true,
	"application/octet-stream": true,
	"binary/octet-stream":      true,
}

// probe holds the fields that tell manifest kinds apart. It is decoded with
// the same (case-insensitive) rules as the full documents, so what it sees is
// what the real decode sees.
type probe struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Manifests     json.RawMessage `json:"manifests"`
	Layers        json.RawMessage `json:"layers"`
	Config        json.RawMessage `json:"config"`
	FSLayers      json.RawMessage `json:"fsLayers"`
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// Parse decodes body, which a registry served with Content-Type contentType,
// and validates it. A generic or empty Content-Type (application/json,
// text/plain, ...) lets the body decide: its mediaType field, else
// schemaVersion 1 for schema 1, else the presence of "manifests" (OCI index)
// or "config" (OCI manifest), since OCI 1.0 documents may omit mediaType.
//
// Errors wrap errdefs.ErrTooLarge (the body, or an image's config, over
// MaxSize), errdefs.ErrUnsupported (a media type imagec does not handle, or a
// manifest that is not a container image) or errdefs.ErrInvalidArgument
// (anything malformed or contradictory).
// For a signed schema 1 manifest the decoded content is the signed payload;
// Parse does not verify the signatures, VerifySchema1 does.
func Parse(contentType string, body []byte) (*Parsed, error) {
	if len(body) > MaxSize {
		return nil, fmt.Errorf("manifest of %d bytes exceeds the %d byte limit: %w", len(body), MaxSize, errdefs.ErrTooLarge)
	}
	var p probe
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decode manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if present(p.Manifests) && (present(p.Layers) || present(p.Config)) {
		return nil, fmt.Errorf("ambiguous manifest: has both manifests and layers or config: %w", errdefs.ErrInvalidArgument)
	}
	mt, err := decideMediaType(contentType, &p)
	if err != nil {
		return nil, err
	}
	switch {
	case IsIndex(mt):
		return parseIndex(mt, &p, body)
	case IsImage(mt):
		return parseImage(mt, &p, body)
	default:
		return parseSchema1(&p, body)
	}
}

// decideMediaType settles which kind of document body is. Its result is
// always IsIndex, IsImage or IsSchema1.
func decideMediaType(contentType string, p *probe) (string, error) {
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	if !genericContentTypes[ct] {
		if !known(ct) {
			return "", fmt.Errorf("manifest media type %q: %w", ct, errdefs.ErrUnsupported)
		}
		// A body that names its own type must agree with the header: a
		// mismatch means the registry or a proxy mixed documents up, and
		// guessing which one is right could pick the wrong image.
		if p.MediaType != "" && p.MediaType != ct {
			return "", fmt.Errorf("manifest served as %q declares mediaType %q: %w", ct, p.MediaType, errdefs.ErrInvalidArgument)
		}
		return ct, nil
	}
	switch {
	case p.MediaType != "":
		if !known(p.MediaType) {
			return "", fmt.Errorf("manifest media type %q: %w", p.MediaType, errdefs.ErrUnsupported)
		}
		return p.MediaType, nil
	case p.SchemaVersion == 1:
		return MediaTypeDockerSchema1, nil
	case present(p.Manifests):
		return ocispec.MediaTypeImageIndex, nil
	case present(p.Config):
		return ocispec.MediaTypeImageManifest, nil
	}
	return "", fmt.Errorf("cannot tell the manifest type: no mediaType, schemaVersion %d and neither manifests nor config: %w", p.SchemaVersion, errdefs.ErrInvalidArgument)
}

func known(mediaType string) bool {
	return IsIndex(mediaType) || IsImage(mediaType) || IsSchema1(mediaType)
}

func parseIndex(mt string, p *probe, body []byte) (*Parsed, error) {
	if p.SchemaVersion != 2 {
		return nil, fmt.Errorf("index: schemaVersion %d, want 2: %w", p.SchemaVersion, errdefs.ErrInvalidArgument)
	}
	// Without this an image manifest served with an index Content-Type would
	// decode as an empty index and look like an image with no platforms.
	if !present(p.Manifests) {
		return nil, fmt.Errorf("index: no manifests field: %w", errdefs.ErrInvalidArgument)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		return nil, fmt.Errorf("decode index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for i, d := range idx.Manifests {
		if err := validateDescriptor(d); err != nil {
			return nil, fmt.Errorf("index: manifests[%d]: %w", i, err)
		}
	}
	if idx.Subject != nil {
		if err := validateDescriptor(*idx.Subject); err != nil {
			return nil, fmt.Errorf("index: subject: %w", err)
		}
	}
	return &Parsed{MediaType: mt, Index: &idx}, nil
}

func parseImage(mt string, p *probe, body []byte) (*Parsed, error) {
	if p.SchemaVersion != 2 {
		return nil, fmt.Errorf("image manifest: schemaVersion %d, want 2: %w", p.SchemaVersion, errdefs.ErrInvalidArgument)
	}
	if !present(p.Config) {
		return nil, fmt.Errorf("image manifest: no config: %w", errdefs.ErrInvalidArgument)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode image manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := validateDescriptor(m.Config); err != nil {
		return nil, fmt.Errorf("image manifest: config: %w", err)
	}
	// The config is fetched whole and refused past MaxSize; saying so now
	// spares the caller a download that cannot succeed.
	if m.Config.Size > MaxSize {
		return nil, fmt.Errorf("image manifest: config %s of %d bytes exceeds the %d byte limit: %w", m.Config.Digest, m.Config.Size, MaxSize, errdefs.ErrTooLarge)
	}
	if !IsConfig(m.Config.MediaType) {
		return nil, fmt.Errorf("not a container image: config media type %q: %w", m.Config.MediaType, errdefs.ErrUnsupported)
	}
	for i, l := range m.Layers {
		if err := validateDescriptor(l); err != nil {
			return nil, fmt.Errorf("image manifest: layers[%d]: %w", i, err)
		}
		if _, err := compress.ForMediaType(l.MediaType); err != nil {
			return nil, fmt.Errorf("image manifest: layers[%d] %s: %w", i, l.Digest, err)
		}
	}
	if m.Subject != nil {
		if err := validateDescriptor(*m.Subject); err != nil {
			return nil, fmt.Errorf("image manifest: subject: %w", err)
		}
	}
	return &Parsed{MediaType: mt, Image: &m}, nil
}

func parseSchema1(p *probe, body []byte) (*Parsed, error) {
	if !present(p.FSLayers) {
		return nil, fmt.Errorf("schema1 manifest: no fsLayers: %w", errdefs.ErrInvalidArgument)
	}
	jws, err := parseSchema1JWS(body)
	if err != nil {
		return nil, err
	}
	mt := MediaTypeDockerSchema1
	if jws.signed() {
		mt = MediaTypeDockerSchema1Signed
	}
	// Docker reads the signed payload, not the body: decoding anything else
	// would let the body say something the signatures do not cover.
	var s Schema1
	if err := json.Unmarshal(jws.payload, &s); err != nil {
		return nil, fmt.Errorf("decode schema1 manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if _, err := s.Layers(); err != nil {
		return nil, err
	}
	return &Parsed{MediaType: mt, Schema1: &s}, nil
}

// validateDescriptor checks what every descriptor must satisfy for the
// content it names to be fetched and verified.
func validateDescriptor(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("invalid digest %q: %v: %w", d.Digest, err, errdefs.ErrInvalidArgument)
	}
	if d.Size < 0 {
		return fmt.Errorf("%s: negative size %d: %w", d.Digest, d.Size, errdefs.ErrInvalidArgument)
	}
	// Embedded data stands in for the blob, so it is held to the same digest
	// and size a fetched blob would be.
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size {
			return fmt.Errorf("%s: embedded data is %d bytes, descriptor says %d: %w", d.Digest, len(d.Data), d.Size, errdefs.ErrInvalidArgument)
		}
		if got := d.Digest.Algorithm().FromBytes(d.Data); got != d.Digest {
			return fmt.Errorf("%s: embedded data hashes to %s: %w", d.Digest, got, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// Digest returns the digest docker shows for a manifest body of the given
// media type: the sha256 of the body, except for a signed schema 1 manifest,
// whose digest is that of its canonical payload (the body without its
// signatures, as the JWS protected headers describe it). It does not verify
// signatures; see VerifySchema1.
func Digest(mediaType string, body []byte) (digest.Digest, error) {
	return DigestAs(digest.Canonical, mediaType, body)
}

// DigestAs is Digest computed with alg: a manifest named by a sha512 digest
// is checked against the sha512 of the same bytes Digest hashes with sha256.
// An algorithm that is not available (not registered, or not linked into the
// program) fails with errdefs.ErrUnsupported.
func DigestAs(alg digest.Algorithm, mediaType string, body []byte) (digest.Digest, error) {
	if !alg.Available() {
		return "", fmt.Errorf("digest algorithm %q is not supported (sha256, sha384 and sha512 are): %w", alg, errdefs.ErrUnsupported)
	}
	if !IsSchema1(mediaType) {
		return alg.FromBytes(body), nil
	}
	jws, err := parseSchema1JWS(body)
	if err != nil {
		return "", err
	}
	return alg.FromBytes(jws.payload), nil
}
