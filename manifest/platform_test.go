package manifest

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ocispec.Platform
		wantErr bool
	}{
		{in: "linux/amd64", want: ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "linux/x86_64", want: ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "Linux/X86-64", want: ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{in: "linux/aarch64", want: ocispec.Platform{OS: "linux", Architecture: "arm64"}},
		{in: "linux/arm64/v8", want: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{in: "linux/armhf", want: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{in: "linux/armhf/v7", want: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{in: "linux/armel", want: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{in: "linux/arm/7", want: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{in: "linux/arm", want: ocispec.Platform{OS: "linux", Architecture: "arm"}},
		{in: "linux/i386", want: ocispec.Platform{OS: "linux", Architecture: "386"}},
		{in: "macos/arm64", want: ocispec.Platform{OS: "darwin", Architecture: "arm64"}},
		{in: " windows/amd64 ", want: ocispec.Platform{OS: "windows", Architecture: "amd64"}},
		{in: "linux/armhf/v6", wantErr: true},
		{in: "linux", wantErr: true},
		{in: "", wantErr: true},
		{in: "linux/", wantErr: true},
		{in: "/amd64", wantErr: true},
		{in: "linux/amd64/", wantErr: true},
		{in: "linux/arm/v7/extra", wantErr: true},
		{in: "linux/amd 64", wantErr: true},
		{in: "../..", wantErr: true},
		{in: "linux/..", wantErr: true},
		{in: "linux/amd64/.", wantErr: true},
		{in: "-linux/amd64", wantErr: true},
		{in: "linux/_arm", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParsePlatform(tt.in)
		if tt.wantErr {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("ParsePlatform(%q) = %+v, %v; want ErrInvalidArgument", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.OS != tt.want.OS || got.Architecture != tt.want.Architecture || got.Variant != tt.want.Variant {
			t.Errorf("ParsePlatform(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatPlatform(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"linux/arm64/v8", "linux/amd64", "windows/amd64", "linux/arm/v6"} {
		p, err := ParsePlatform(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatPlatform(p); got != s {
			t.Errorf("FormatPlatform(ParsePlatform(%q)) = %q", s, got)
		}
	}
}

func TestHostPlatform(t *testing.T) {
	t.Parallel()
	p := HostPlatform()
	if p.OS != runtime.GOOS || p.Architecture != runtime.GOARCH {
		t.Errorf("HostPlatform = %+v, want %s/%s", p, runtime.GOOS, runtime.GOARCH)
	}
	if (runtime.GOARCH == "arm") != (p.Variant != "") {
		t.Errorf("HostPlatform variant %q on %s", p.Variant, runtime.GOARCH)
	}
}

func TestArmVariantFromCPUInfo(t *testing.T) {
	t.Parallel()
	tests := []struct{ cpuinfo, want string }{
		{"processor\t: 0\nCPU architecture: 7\nCPU variant\t: 0x0\n", "v7"},
		{"model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n", "v6"},
		{"CPU architecture: 8\n", "v8"},
		{"CPU architecture: AArch64\n", "v8"},
		{"processor : 0\nflags : fpu\n", ""},
	}
	for _, tt := range tests {
		if got := armVariantFromCPUInfo(tt.cpuinfo); got != tt.want {
			t.Errorf("armVariantFromCPUInfo(%q) = %q, want %q", tt.cpuinfo, got, tt.want)
		}
	}
}

// entry is an index entry for platform s ("os/arch[/variant]").
func entry(t testing.TB, mediaType, s string) ocispec.Descriptor {
	t.Helper()
	d := desc(mediaType, s, 100)
	if s != "" {
		parts := strings.Split(s, "/")
		p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			p.Variant = parts[2]
		}
		d.Platform = &p
	}
	return d
}

func attestation(t testing.TB, of ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	d := entry(t, ocispec.MediaTypeImageManifest, "unknown/unknown")
	d.Digest = dg("attestation-" + string(of.Digest))
	d.Annotations = map[string]string{
		"vnd.docker.reference.type":   "attestation-manifest",
		"vnd.docker.reference.digest": string(of.Digest),
	}
	return d
}

func TestSelectManifest(t *testing.T) {
	t.Parallel()
	oci := ocispec.MediaTypeImageManifest
	amd64 := entry(t, oci, "linux/amd64")
	arm64 := entry(t, oci, "linux/arm64/v8")
	armv7 := entry(t, oci, "linux/arm/v7")
	armv6 := entry(t, oci, "linux/arm/v6")
	armv5 := entry(t, oci, "linux/arm/v5")
	win := entry(t, MediaTypeDockerManifest, "windows/amd64")
	// An attestation that claims a real platform is still skipped.
	disguised := entry(t, oci, "linux/s390x")
	disguised.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	unknown := entry(t, oci, "unknown/unknown")
	nested := entry(t, ocispec.MediaTypeImageIndex, "linux/riscv64")
	noPlatform := entry(t, oci, "")
	amd64v3 := entry(t, oci, "linux/amd64/v3")
	amd64v2 := entry(t, oci, "linux/amd64/v2")

	docker := []ocispec.Descriptor{amd64, armv6, armv7, arm64, win, attestation(t, amd64), attestation(t, arm64), disguised}
	tests := []struct {
		name    string
		entries []ocispec.Descriptor
		want    string // platform string of the wanted entry
		pick    *ocispec.Descriptor
		wantErr string
	}{
		{name: "amd64", entries: docker, want: "linux/amd64", pick: &amd64},
		{name: "arm64 without variant picks v8", entries: docker, want: "linux/arm64", pick: &arm64},
		{name: "arm64/v8 picks v8", entries: docker, want: "linux/arm64/v8", pick: &arm64},
		{name: "aarch64 alias", entries: docker, want: "linux/aarch64", pick: &arm64},
		{name: "exact arm v7 beats v6", entries: docker, want: "linux/arm/v7", pick: &armv7},
		{name: "arm without variant means v7", entries: docker, want: "linux/arm", pick: &armv7},
		{name: "exact arm v6", entries: docker, want: "linux/arm/v6", pick: &armv6},
		{name: "arm v8 falls back to closest lower", entries: []ocispec.Descriptor{armv5, armv7, armv6}, want: "linux/arm/v8", pick: &armv7},
		{name: "arm v7 runs v6 and v5, prefers v6", entries: []ocispec.Descriptor{armv5, armv6}, want: "linux/arm/v7", pick: &armv6},
		{name: "arm v6 does not run v7", entries: []ocispec.Descriptor{armv7}, want: "linux/arm/v6", wantErr: "available: linux/arm/v7"},
		{name: "windows", entries: docker, want: "windows/amd64", pick: &win},
		{name: "amd64 v3 host takes v2 over v1", entries: []ocispec.Descriptor{amd64, amd64v2}, want: "linux/amd64/v3", pick: &amd64v2},
		{name: "amd64 host does not take v3", entries: []ocispec.Descriptor{amd64v3, amd64}, want: "linux/amd64", pick: &amd64},
		{name: "attestations skipped", entries: []ocispec.Descriptor{unknown, disguised}, want: "linux/s390x",
			wantErr: "no image for platform linux/s390x in index (available: none; skipped 2 attestation(s))"},
		{name: "nested index skipped", entries: []ocispec.Descriptor{nested}, want: "linux/riscv64",
			wantErr: "available: none; skipped 1 nested index(es), which imagec does not descend into"},
		{name: "no match lists platforms", entries: docker, want: "linux/ppc64le",
			wantErr: "(available: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8, windows/amd64)"},
		{name: "entry without platform as last resort", entries: []ocispec.Descriptor{noPlatform, amd64}, want: "linux/arm64", pick: &noPlatform},
		{name: "platform match beats entry without platform", entries: []ocispec.Descriptor{noPlatform, amd64}, want: "linux/amd64", pick: &amd64},
		{name: "empty index", entries: nil, want: "linux/amd64", wantErr: "available: none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, err := ParsePlatform(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := SelectManifest(&ocispec.Index{Manifests: tt.entries}, want)
			if tt.wantErr != "" {
				if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SelectManifest error = %v, want ErrNotFound mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != tt.pick.Digest {
				t.Errorf("picked %s (%v), want %s", got.Digest, got.Platform, tt.pick.Digest)
			}
		})
	}
}

func TestSelectManifestNilIndex(t *testing.T) {
	t.Parallel()
	if _, err := SelectManifest(nil, HostPlatform()); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("SelectManifest(nil) error = %v, want ErrInvalidArgument", err)
	}
}
