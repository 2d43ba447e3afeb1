package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
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

// RepoDigest returns the verified repo digest of the image entry names.
// It fails only when entry's own document cannot be read.
func RepoDigest(ctx context.Context, p content.Provider, entry ocispec.Descriptor) (digest.Digest, error) {
	if !manifest.IsIndex(entry.MediaType) {
		return entry.Digest, nil
	}
	body, err := p.ReadBlob(ctx, entry.Digest, manifest.MaxSize)
	if err != nil {
		return "", err
	}
	parsed, err := manifest.Parse(entry.MediaType, body)
	if err != nil || parsed.Index == nil {
		return entry.Digest, nil
	}
	src, wrapped := Source(parsed.Index)
	if !wrapped {
		return entry.Digest, nil
	}
	d, err := verifySource(ctx, p, src, parsed.Index)
	if err != nil {
		return entry.Digest, nil
	}
	return d, nil
}

// Original returns the descriptor of the document a registry served for
// the image entry names, which is what a push sends so the registry holds
// the same bytes and digest: entry itself for an OCI manifest or index, and
// for imagec's wrapper index the (verified) document it was made from,
// with the media type that document declares. A wrapper whose source does
// not check out (see RepoDigest) is refused with errdefs.ErrDigestMismatch.
func Original(ctx context.Context, p content.Provider, entry ocispec.Descriptor) (ocispec.Descriptor, error) {
	if !manifest.IsIndex(entry.MediaType) {
		return entry, nil
	}
	body, err := p.ReadBlob(ctx, entry.Digest, manifest.MaxSize)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	parsed, err := manifest.Parse(entry.MediaType, body)
	if err != nil || parsed.Index == nil {
		return entry, nil
	}
	src, wrapped := Source(parsed.Index)
	if !wrapped {
		return entry, nil
	}
	if _, err := verifySource(ctx, p, src, parsed.Index); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("index %s: %w", entry.Digest, err)
	}
	if len(parsed.Index.Manifests) == 1 && parsed.Index.Manifests[0].Digest == src {
		child := parsed.Index.Manifests[0]
		return ocispec.Descriptor{MediaType: child.MediaType, Digest: child.Digest, Size: child.Size}, nil
	}
	raw, err := p.ReadBlob(ctx, src, manifest.MaxSize)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	doc, err := manifest.Parse("", raw)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: doc.MediaType, Digest: src, Size: int64(len(raw))}, nil
}

// CheckName fails, wrapping errdefs.ErrDigestMismatch, when name pins a
// digest (repo@sha256:...) that is not the repo digest of entry's content.
// Names with a tag only always pass.
func CheckName(ctx context.Context, p content.Provider, name string, entry ocispec.Descriptor) error {
	ref, err := reference.Parse(name)
	if err != nil || ref.Digest() == "" {
		return nil
	}
	repo, err := RepoDigest(ctx, p, entry)
	if err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	if repo != ref.Digest() {
		return fmt.Errorf("image %s: the name pins %s but its content is %s: %w", name, ref.Digest(), repo, errdefs.ErrDigestMismatch)
	}
	return nil
}

// verifySource checks that the stored document src yields the wrapper idx
// and returns the digest the registry serves src under.
func verifySource(ctx context.Context, p content.Provider, src digest.Digest, idx *ocispec.Index) (digest.Digest, error) {
	if len(idx.Manifests) == 1 && idx.Manifests[0].Digest == src {
		return src, nil // a Docker manifest: the child is the document itself
	}
	body, err := p.ReadBlob(ctx, src, manifest.MaxSize)
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
		if err := checkSchema1(ctx, p, parsed.Schema1, idx); err != nil {
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

// checkSchema1 checks that the wrapper's one child is the conversion of s a
// pull makes: its non-empty layers bottom up, and the config built from s's
// history for the diffIDs that config holds.
func checkSchema1(ctx context.Context, p content.Provider, s *manifest.Schema1, idx *ocispec.Index) error {
	if len(idx.Manifests) != 1 {
		return fmt.Errorf("wrapper does not hold one converted manifest: %w", errdefs.ErrDigestMismatch)
	}
	child := idx.Manifests[0]
	body, err := p.ReadBlob(ctx, child.Digest, manifest.MaxSize)
	if err != nil {
		return err
	}
	parsed, err := manifest.Parse(child.MediaType, body)
	if err != nil || parsed.Image == nil {
		return fmt.Errorf("converted manifest %s: %w", child.Digest, errdefs.ErrDigestMismatch)
	}
	m := parsed.Image
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
	if len(want) != len(m.Layers) {
		return fmt.Errorf("converted manifest has %d layers, the original %d: %w", len(m.Layers), len(want), errdefs.ErrDigestMismatch)
	}
	for i, l := range m.Layers {
		if l.Digest != want[i] {
			return fmt.Errorf("converted manifest layer %d is %s, the original's %s: %w", i, l.Digest, want[i], errdefs.ErrDigestMismatch)
		}
	}
	raw, err := p.ReadBlob(ctx, m.Config.Digest, manifest.MaxSize)
	if err != nil {
		return err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("config %s: %v: %w", m.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	built, err := manifest.Schema1Config(s, cfg.RootFS.DiffIDs)
	if err != nil {
		return err
	}
	if !bytes.Equal(built, raw) {
		return fmt.Errorf("config %s is not the one the original yields: %w", m.Config.Digest, errdefs.ErrDigestMismatch)
	}
	return nil
}
