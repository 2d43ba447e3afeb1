package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// BundleArtifactType is the artifact type of a sigstore bundle attached to
// an image as a referrer (cosign sign --new-bundle-format); the bundle is
// the manifest's one layer, of a bundle media type.
const BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"

const (
	// maxSignatures bounds the signatures read for one image, of each
	// form: the registry's word decides how many there are, not the
	// signer's, so a flood of junk must not hold a pull.
	maxSignatures = 32
	// maxSignatureBlob bounds a bundle or payload blob; real ones are a
	// few KiB.
	maxSignatureBlob = 1 << 20
	// maxSignatureBytes bounds what is read of each form for one image
	// (blobs, and a legacy signature's annotations): signatures past it
	// are left out, as those past maxSignatures are. Real signatures are
	// a few KiB each; the bound keeps the checker's request well under
	// sigcheck.MaxRequestSize.
	maxSignatureBytes = 4 << 20
	// bundleMediaTypePrefix starts every sigstore bundle media type
	// (v0.1 to v0.3): a layer of one is a bundle.
	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"
)

// signatures are what a repository holds for one digest, in both forms.
type signatures struct {
	bundles [][]byte
	legacy  []legacySignature
}

func (s *signatures) empty() bool { return len(s.bundles) == 0 && len(s.legacy) == 0 }

// fetchSignatures reads the signatures of manifest d in repo: the bundles
// attached as referrers (the referrers API, or its tag schema) and the
// legacy sha256-<hex>.sig manifest. Every document and blob is verified
// against its digest; what any of them claims is still only believed once
// its signature verifies.
func fetchSignatures(ctx context.Context, c *registry.Client, repo reference.Reference, d digest.Digest) (*signatures, error) {
	s := &signatures{}
	// Unfiltered: a tag schema index may list a bundle under another
	// artifact type (cosign 2's lists it under its config's), so what a
	// referrer is, is read from the referrer; those listed as bundles are
	// read first.
	list, err := c.Referrers(ctx, repo.WithDigest(d))
	if err != nil {
		return nil, err
	}
	candidates := list.Manifests
	slices.SortStableFunc(candidates, func(a, b ocispec.Descriptor) int {
		return boolRank(b.ArtifactType == BundleArtifactType) - boolRank(a.ArtifactType == BundleArtifactType)
	})
	budget := int64(maxSignatureBytes)
	for i, r := range candidates {
		if i == maxSignatures {
			break
		}
		layers, err := signatureLayers(ctx, c, repo.WithDigest(r.Digest))
		if err != nil {
			return nil, fmt.Errorf("signature %s: %w", r.Digest, err)
		}
		for _, l := range layers {
			if !strings.HasPrefix(l.MediaType, bundleMediaTypePrefix) || !spend(&budget, l.Size, 0) {
				continue
			}
			b, err := readBlob(ctx, c, repo, l)
			if err != nil {
				return nil, fmt.Errorf("signature %s: %w", r.Digest, err)
			}
			s.bundles = append(s.bundles, b)
		}
	}
	layers, err := signatureLayers(ctx, c, repo.WithTag(SignatureTag(d)))
	if errors.Is(err, errdefs.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("signatures tagged %s: %w", SignatureTag(d), err)
	}
	budget = maxSignatureBytes
	for _, l := range layers {
		if l.MediaType != SimpleSigningMediaType || len(s.legacy) == maxSignatures {
			continue
		}
		var carried int64
		for _, a := range []string{AnnotationSignature, AnnotationCertificate, AnnotationRekorBundle} {
			carried += int64(len(l.Annotations[a]))
		}
		if !spend(&budget, l.Size, carried) {
			continue
		}
		payload, err := readBlob(ctx, c, repo, l)
		if err != nil {
			return nil, fmt.Errorf("signatures tagged %s: %w", SignatureTag(d), err)
		}
		s.legacy = append(s.legacy, legacySignature{payload: payload, annotations: l.Annotations})
	}
	return s, nil
}

// spend takes what a signature of blob size size carries (its blob and
// the extra bytes of its annotations) from the budget, reporting whether
// the budget held it. A size that is negative or over maxSignatureBlob
// is not left out: reading the blob refuses it, as it always has.
func spend(budget *int64, size, extra int64) bool {
	if size < 0 || size > maxSignatureBlob {
		return true
	}
	if size+extra > *budget {
		return false
	}
	*budget -= size + extra
	return true
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// signatureLayers fetches the manifest ref names (verified when ref pins
// a digest; a tag is never trusted, but the signatures it leads to still
// have to verify) and returns its layers.
func signatureLayers(ctx context.Context, c *registry.Client, ref reference.Reference) ([]ocispec.Descriptor, error) {
	m, err := c.GetManifest(ctx, ref, []string{ocispec.MediaTypeImageManifest, manifest.MediaTypeDockerManifest})
	if err != nil {
		return nil, err
	}
	if d := ref.Digest(); d != "" {
		if err := m.Verify(d); err != nil {
			return nil, err
		}
	}
	var doc struct {
		Layers []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(m.Body, &doc); err != nil {
		return nil, fmt.Errorf("not a manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return doc.Layers, nil
}

// readBlob reads a small blob whole and verifies it.
func readBlob(ctx context.Context, c *registry.Client, repo reference.Reference, desc ocispec.Descriptor) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil || desc.Size < 0 {
		return nil, fmt.Errorf("layer %q of size %d: %w", desc.Digest, desc.Size, errdefs.ErrInvalidArgument)
	}
	if desc.Size > maxSignatureBlob {
		return nil, fmt.Errorf("layer %s is %d bytes, over the %d byte limit: %w", desc.Digest, desc.Size, maxSignatureBlob, errdefs.ErrTooLarge)
	}
	body, _, err := c.BlobDownload(repo, desc, registry.SmallBody()).Open(ctx, 0)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("layer %s hashes to %s: %w", desc.Digest, got, errdefs.ErrDigestMismatch)
	}
	return b, nil
}
