package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
)

func manifestDesc(seed string) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromString(seed),
		Size:      int64(len(seed)),
	}
}

// putManifest stores seed as a blob and returns manifestDesc(seed), for a
// name to point at.
func putManifest(s *Store, seed string) ocispec.Descriptor {
	d := manifestDesc(seed)
	if err := s.WriteBlob(context.Background(), d, []byte(seed)); err != nil {
		panic(err)
	}
	return d
}

func TestSetImage(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	a, b := "docker.io/library/alpine:latest", "localhost:5000/x@"+manifestDesc("b").Digest.String()
	descA := putManifest(s, "a")
	descA.Annotations = map[string]string{"org.example": "kept"}
	for _, step := range []struct {
		name string
		desc ocispec.Descriptor
	}{{a, descA}, {b, putManifest(s, "b")}, {a, putManifest(s, "a2")}} {
		if err := s.SetImage(ctx, step.name, step.desc); err != nil {
			t.Fatal(err)
		}
	}
	if descA.Annotations[ocispec.AnnotationRefName] != "" {
		t.Error("SetImage modified the caller's annotations")
	}
	imgs, err := s.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Replacement keeps the entry's position.
	if len(imgs) != 2 || imgs[0].Annotations[ocispec.AnnotationRefName] != a ||
		imgs[1].Annotations[ocispec.AnnotationRefName] != b {
		t.Fatalf("Images = %+v", imgs)
	}
	got, err := s.Image(ctx, a)
	if err != nil || got.Digest != manifestDesc("a2").Digest {
		t.Fatalf("Image(%s) = %v, %v", a, got.Digest, err)
	}
	if _, ok := got.Annotations["org.example"]; ok {
		t.Error("annotations of the replaced entry leaked into the new one")
	}
	if err := s.SetImage(ctx, "n", descA); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Image(ctx, "n"); got.Annotations["org.example"] != "kept" {
		t.Errorf("descriptor annotations not kept: %v", got.Annotations)
	}
}

func TestSetImageNeedsTheBlob(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if err := s.SetImage(ctx, "n", manifestDesc("absent")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("SetImage of an absent blob = %v, want not found", err)
	}
	wrong := putManifest(s, "present")
	wrong.Size++
	if err := s.SetImage(ctx, "n", wrong); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("SetImage with a size the blob does not have = %v, want not found", err)
	}
	if imgs, _ := s.Images(ctx); len(imgs) != 0 {
		t.Errorf("names recorded: %+v", imgs)
	}
}

func TestSetImageInvalid(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	tests := []struct {
		name string
		desc ocispec.Descriptor
	}{
		{"", manifestDesc("x")},
		{"n", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "bogus", Size: 1}},
		{"n", ocispec.Descriptor{Digest: digest.FromString("x"), Size: 1}},
	}
	for _, tt := range tests {
		if err := s.SetImage(context.Background(), tt.name, tt.desc); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("SetImage(%q, %+v) = %v, want invalid argument", tt.name, tt.desc, err)
		}
	}
}

func TestRemoveImage(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		if err := s.SetImage(ctx, n, putManifest(s, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveImage(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveImage(ctx, "b"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second RemoveImage = %v, want not found", err)
	}
	if _, err := s.Image(ctx, "b"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Image(b) = %v, want not found", err)
	}
	imgs, _ := s.Images(ctx)
	if len(imgs) != 2 || imgs[0].Digest != manifestDesc("a").Digest || imgs[1].Digest != manifestDesc("c").Digest {
		t.Errorf("Images after remove = %+v", imgs)
	}
}

// TestSetImageConcurrent updates index.json from goroutines and from
// several processes at once; no entry may be lost and the file must stay
// valid JSON throughout.
func TestSetImageConcurrent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	const procs, perProc, goroutines, perG = 3, 15, 8, 5
	var waits []func() error
	for p := range procs {
		_, _, wait := startHelper(t, "set-images",
			"ROOT="+s.Root(), "PREFIX=proc"+strconv.Itoa(p), "COUNT="+strconv.Itoa(perProc))
		waits = append(waits, wait)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				name := fmt.Sprintf("g%d-%d", g, i)
				if err := s.SetImage(ctx, name, putManifest(s, name)); err != nil {
					t.Error(err)
				}
				// Readers never take the lock and must always see valid JSON.
				if _, err := s.Images(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, wait := range waits {
		if err := wait(); err != nil {
			t.Fatalf("helper process: %v", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(s.Root(), "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json is not valid JSON: %v", err)
	}
	seen := map[string]int{}
	for _, d := range idx.Manifests {
		seen[d.Annotations[ocispec.AnnotationRefName]]++
	}
	if want := procs*perProc + goroutines*perG; len(idx.Manifests) != want {
		t.Errorf("index has %d entries, want %d", len(idx.Manifests), want)
	}
	for p := range procs {
		for i := range perProc {
			if n := fmt.Sprintf("proc%d-%d", p, i); seen[n] != 1 {
				t.Errorf("%s recorded %d times", n, seen[n])
			}
		}
	}
	for g := range goroutines {
		for i := range perG {
			if n := fmt.Sprintf("g%d-%d", g, i); seen[n] != 1 {
				t.Errorf("%s recorded %d times", n, seen[n])
			}
		}
	}
}

// normalize makes nil and empty lists of descriptors compare equal.
func normalize(ds []ocispec.Descriptor) []ocispec.Descriptor {
	if len(ds) == 0 {
		return nil
	}
	return ds
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:abc","annotations":{"org.opencontainers.image.ref.name":"x"}}]}`))
	f.Add([]byte(`{"schemaVersion":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := parseIndex(b)
		var std ocispec.Index
		if json.Unmarshal(b, &std) == nil && std.SchemaVersion == 2 && (std.MediaType == "" || std.MediaType == ocispec.MediaTypeImageIndex) {
			// Whatever encoding/json reads, the quick split reads the same.
			if err != nil {
				t.Fatalf("a valid index.json refused: %v", err)
			}
			if !reflect.DeepEqual(normalize(std.Manifests), normalize(idx.Manifests)) {
				t.Fatalf("entries differ from encoding/json's:\n%+v\n%+v", idx.Manifests, std.Manifests)
			}
		}
		if err != nil {
			return
		}
		out, err := encodeIndex(idx)
		if err != nil {
			t.Fatalf("encode of decoded index: %v", err)
		}
		again, err := parseIndex(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again.Manifests) != len(idx.Manifests) {
			t.Fatalf("round trip changed entry count %d -> %d", len(idx.Manifests), len(again.Manifests))
		}
	})
}

// A name that pins a digest must pin the digest of what it names.
func TestSetImageRefusesNamePinningOtherDigest(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	other := putManifest(s, "other")
	name := "localhost:5000/x@" + manifestDesc("real").Digest.String()
	if err := s.SetImage(ctx, name, other); !errors.Is(err, errdefs.ErrDigestMismatch) {
		t.Fatalf("SetImage(%s, %s) = %v, want digest mismatch", name, other.Digest, err)
	}
	if imgs, _ := s.Images(ctx); len(imgs) != 0 {
		t.Errorf("names recorded: %+v", imgs)
	}
}
