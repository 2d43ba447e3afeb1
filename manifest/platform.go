package manifest

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/imagec/imagec/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform parses "os/arch[/variant]" (as in --platform). Names are
// lowercased and the usual aliases normalized: x86_64 and x86-64 to amd64,
// aarch64 to arm64, i386 to 386, armhf to arm v7, armel to arm v6, macos to
// darwin, and a bare arm variant digit "7" to "v7". Other variants are kept
// as given (linux/arm64/v8 stays v8; matching treats it as no variant).
// Errors wrap errdefs.ErrInvalidArgument.
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) < 2 || len(parts) > 3 {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]: %w", s, errdefs.ErrInvalidArgument)
	}
	for _, part := range parts {
		if !validPlatformPart(part) {
			return ocispec.Platform{}, fmt.Errorf("platform %q: empty or invalid component %q: %w", s, part, errdefs.ErrInvalidArgument)
		}
	}
	p := ocispec.Platform{OS: normalizeOS(parts[0]), Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	var implied string
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	case "i386":
		p.Architecture = "386"
	case "armhf":
		p.Architecture, implied = "arm", "v7"
	case "armel":
		p.Architecture, implied = "arm", "v6"
	}
	if p.Architecture == "arm" && isDigits(p.Variant) {
		p.Variant = "v" + p.Variant
	}
	if implied != "" {
		if p.Variant != "" && p.Variant != implied {
			return ocispec.Platform{}, fmt.Errorf("platform %q: %s implies variant %s: %w", s, parts[1], implied, errdefs.ErrInvalidArgument)
		}
		p.Variant = implied
	}
	return p, nil
}

// validPlatformPart accepts a name as os, architecture or variant: lower
// case letters, digits, '_', '-' and '.', starting with a letter or digit
// (so never "." or "..": platforms end up in paths and messages).
func validPlatformPart(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func normalizeOS(os string) string {
	os = strings.ToLower(os)
	if os == "macos" {
		return "darwin"
	}
	return os
}

// normalizeArch maps an architecture and variant to the form in which equal
// platforms compare equal: default variants become explicit for arm (v7) and
// disappear for arm64 (v8) and amd64 (v1).
func normalizeArch(arch, variant string) (string, string) {
	arch, variant = strings.ToLower(arch), strings.ToLower(variant)
	switch arch {
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "aarch64", "arm64":
		arch = "arm64"
		switch variant {
		case "8", "v8", "v8.0":
			variant = ""
		case "9", "v9.0":
			variant = "v9"
		}
	case "i386":
		arch = "386"
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	}
	if arch == "arm" {
		if variant == "" {
			variant = "v7"
		} else if isDigits(variant) {
			variant = "v" + variant
		}
	}
	return arch, variant
}

// variantRank orders the variants of architectures whose newer CPUs run
// older code, so a host can fall back to a lower variant. ok is false for a
// variant with no known place in the order.
func variantRank(arch, variant string) (rank int, ok bool) {
	switch {
	case arch == "amd64" && variant == "":
		return 1, true
	case arch == "arm64" && variant == "":
		return 8, true
	case arch != "arm" && arch != "amd64" && arch != "arm64":
		return 0, false
	}
	if len(variant) == 2 && variant[0] == 'v' && isDigits(variant[1:]) {
		return int(variant[1] - '0'), true
	}
	return 0, false
}

// matchScore reports whether an image for have runs on want, and how well:
// higher is better, an exact variant best.
func matchScore(have, want ocispec.Platform) (int, bool) {
	if normalizeOS(have.OS) != normalizeOS(want.OS) {
		return 0, false
	}
	ha, hv := normalizeArch(have.Architecture, have.Variant)
	wa, wv := normalizeArch(want.Architecture, want.Variant)
	if ha != wa {
		return 0, false
	}
	if hv == wv {
		return 100, true
	}
	hr, okH := variantRank(ha, hv)
	wr, okW := variantRank(wa, wv)
	if okH && okW && hr < wr {
		return hr + 1, true // the closest lower variant wins
	}
	return 0, false
}

// FormatPlatform returns p as "os/arch[/variant]".
func FormatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// isAttestation reports whether an index entry is supply-chain metadata
// (buildkit provenance/SBOM) rather than a runnable image.
func isAttestation(d ocispec.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// SelectManifest returns the entry of idx that best runs on want: same OS
// and architecture, the exact variant preferred, else the closest lower one
// for architectures whose newer CPUs run older code (an arm v7 host runs v6
// and v5, an amd64 v3 host runs v2). Attestations and entries that are not
// image manifests (nested indexes included) are skipped. An entry without a
// platform is taken only when nothing matches, as containerd does; the pull
// must then check the config's platform. Ties go to the earlier entry.
// With no match the error wraps errdefs.ErrNotFound and lists the platforms
// the index offers.
func SelectManifest(idx *ocispec.Index, want ocispec.Platform) (ocispec.Descriptor, error) {
	if idx == nil {
		return ocispec.Descriptor{}, fmt.Errorf("select manifest: nil index: %w", errdefs.ErrInvalidArgument)
	}
	best, bestScore := -1, -1
	var available []string
	var skipped skips
	for i, d := range idx.Manifests {
		switch {
		case IsIndex(d.MediaType):
			skipped.nested++
			continue
		case !IsImage(d.MediaType):
			skipped.other++
			continue
		case isAttestation(d):
			skipped.attestations++
			continue
		}
		if d.Platform == nil {
			if bestScore < 0 {
				best, bestScore = i, 0
			}
			continue
		}
		available = append(available, FormatPlatform(*d.Platform))
		if score, ok := matchScore(*d.Platform, want); ok && score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		list := "none" + skipped.String()
		if len(available) > 0 {
			list = strings.Join(available, ", ")
		}
		return ocispec.Descriptor{}, fmt.Errorf("no image for platform %s in index (available: %s): %w", FormatPlatform(want), list, errdefs.ErrNotFound)
	}
	return idx.Manifests[best], nil
}

// skips counts the entries of an index SelectManifest passed over, so that
// "available: none" says why.
type skips struct{ nested, attestations, other int }

func (s skips) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{s.nested, "nested index(es), which imagec does not descend into"}, {s.attestations, "attestation(s)"}, {s.other, "entry(ies) that are not images"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; skipped " + strings.Join(parts, ", ")
}

var hostArmVariant = sync.OnceValue(func() string {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v := armVariantFromCPUInfo(string(b)); v != "" {
			return v
		}
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			// GOARM is a digit, possibly followed by ",softfloat".
			if s.Key == "GOARM" && s.Value != "" && isDigits(s.Value[:1]) {
				return "v" + s.Value[:1]
			}
		}
	}
	return "v7"
})

// armVariantFromCPUInfo reads the CPU architecture line of /proc/cpuinfo,
// which reports the CPU's capability rather than what this binary was built
// for. Returns "" if there is none.
func armVariantFromCPUInfo(cpuinfo string) string {
	variant := ""
	for _, line := range strings.Split(cpuinfo, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case key == "model name" && strings.HasPrefix(value, "ARMv6-compatible"):
			// Original Raspberry Pi kernels report architecture 7 for
			// ARMv6 CPUs; the model name tells the truth.
			return "v6"
		case key == "CPU architecture" && variant == "":
			if value == "AArch64" {
				variant = "v8"
			} else if isDigits(value) {
				variant = "v" + value
			}
		}
	}
	return variant
}

// HostPlatform returns the platform this process runs on: runtime.GOOS and
// runtime.GOARCH, plus the CPU variant on 32-bit arm.
func HostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = hostArmVariant()
	}
	return p
}
