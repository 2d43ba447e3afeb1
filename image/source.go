package image

import (
	"bytes"
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/store"
)

// The repo digest (what a registry serves an image under, what a pull
// compares with the registry's answer, what a name's @digest pins) is
// derived here from content the store verified by digest, never from an
// annotation: index.json and archives are written by other programs too,
// and an annotation costs nothing to forge.
//
// For an OCI manifest or index entry it is the entry's digest. For the
// index imagec wraps around a Docker-typed document, it is the digest of
// the document the wrapper says it was made from, and only if that
// document, which the store holds, really yields the wrapper's children:
//   - a Docker manifest: the wrapper's one child is that manifest;
//   - a manifest list: the wrapper lists the same manifests, platforms and
//     all;
//   - a signed schema 1 manifest: the wrapper's one child lists its layers
//     and its config is the one imagec builds from it (for the diffIDs the
//     config records, which unpack verifies against the layers), and the
//     digest is schema 1's canonical one.
// A wrapper that fails these is reported under its own digest, which no
// registry serves, so a pull fetches the image again and renames it.

// wrappedSource returns the document an imagec wrapper index names as its
// origin, if idx is one.
func wrappedSource(idx *ocispec.Index) (digest.Digest, bool) {
	if idx == nil {
		return "", false
	}
	d, err := digest.Parse(idx.Annotations[AnnotationSourceBlob])
	return d, err == nil
}

// isLone reports whether idx is imagec's wrapper of a single manifest (the
// registry served a manifest, not an index), which has no platform to
// choose: it runs as what it is, whatever the host.
func isLone(idx *ocispec.Index) bool {
	_, wrapped := wrappedSource(idx)
	return wrapped && len(idx.Manifests) == 1 && manifest.IsImage(idx.Manifests[0].MediaType)
}

// repoDigest is the verified repo digest of img, loaded from entry (whose
// document parsed as idx when it is an index).
func repoDigest(ctx context.Context, st *store.Store, entry ocispec.Descriptor, idx *ocispec.Index, img *Image) digest.Digest {
	src, wrapped := wrappedSource(idx)
	if !wrapped {
		return entry.Digest
	}
	d, err := verifySource(ctx, st, src, idx, img)
	if err != nil {
		return entry.Digest
	}
	return d
}

// verifySource checks that the stored document src yields the wrapper idx
// and returns the digest the registry serves src under.
func verifySource(ctx context.Context, st *store.Store, src digest.Digest, idx *ocispec.Index, img *Image) (digest.Digest, error) {
	if len(idx.Manifests) == 1 && idx.Manifests[0].Digest == src {
		return src, nil // a Docker manifest: the child is the document itself
	}
	body, err := st.ReadBlob(ctx, src, manifest.MaxSize)
	if err != nil {
		return "", err
	}
	parsed, err := manifest.Parse("", body)
	if err != nil {
		return "", err
	}
	switch {
	case parsed.Index != nil:
		if !sameManifests(parsed.Index.Manifests, idx.Manifests) {
			return "", fmt.Errorf("wrapper does not list the manifests of %s: %w", src, errdefs.ErrDigestMismatch)
		}
		return src, nil
	case parsed.Schema1 != nil:
		if err := checkSchema1(parsed.Schema1, idx, img); err != nil {
			return "", fmt.Errorf("schema 1 manifest %s: %w", src, err)
		}
		return manifest.Digest(parsed.MediaType, body)
	}
	return "", fmt.Errorf("wrapper source %s is a lone manifest it does not list: %w", src, errdefs.ErrDigestMismatch)
}

// sameManifests compares what platform selection and pulls use of two
// manifest lists: digests, sizes, media types and platforms, in order.
func sameManifests(a, b []ocispec.Descriptor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Digest != b[i].Digest || a[i].Size != b[i].Size || a[i].MediaType != b[i].MediaType ||
			!samePlatform(a[i].Platform, b[i].Platform) {
			return false
		}
	}
	return true
}

func samePlatform(a, b *ocispec.Platform) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant &&
		a.OSVersion == b.OSVersion && fmt.Sprint(a.OSFeatures) == fmt.Sprint(b.OSFeatures)
}

// checkSchema1 checks that img, the wrapper's one child, is the conversion
// of s a pull makes: its non-empty layers bottom up, and the config built
// from s's history for the diffIDs img's config holds.
func checkSchema1(s *manifest.Schema1, idx *ocispec.Index, img *Image) error {
	if img == nil || len(idx.Manifests) != 1 || img.ManifestDesc.Digest != idx.Manifests[0].Digest {
		return fmt.Errorf("wrapper does not hold one converted manifest: %w", errdefs.ErrDigestMismatch)
	}
	layers, err := s.Layers()
	if err != nil {
		return err
	}
	var want []digest.Digest
	for _, l := range layers {
		if !l.Empty {
			want = append(want, l.BlobSum)
		}
	}
	if len(want) != len(img.Manifest.Layers) {
		return fmt.Errorf("converted manifest has %d layers, the original %d: %w", len(img.Manifest.Layers), len(want), errdefs.ErrDigestMismatch)
	}
	for i, l := range img.Manifest.Layers {
		if l.Digest != want[i] {
			return fmt.Errorf("converted manifest layer %d is %s, the original's %s: %w", i, l.Digest, want[i], errdefs.ErrDigestMismatch)
		}
	}
	cfg, err := manifest.Schema1Config(s, img.Config.RootFS.DiffIDs)
	if err != nil {
		return err
	}
	if !bytes.Equal(cfg, img.ConfigRaw) {
		return fmt.Errorf("config %s is not the one the original yields: %w", img.Manifest.Config.Digest, errdefs.ErrDigestMismatch)
	}
	return nil
}
