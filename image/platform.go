package image

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

// PlatformOf is the platform a config declares, for an index entry, or nil
// when it declares none (images built from scratch by some tools): an
// empty platform would read as "for no OS and no architecture", which
// other tools (skopeo) then refuse to select.
func PlatformOf(cfg *ocispec.Image) *ocispec.Platform {
	if cfg.OS == "" && cfg.Architecture == "" {
		return nil
	}
	return &ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion}
}
