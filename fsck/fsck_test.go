package fsck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/storetest"
)

func TestFsckCleanStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, repair := range []bool{false, true} {
		r := check(t, f.st, WithRepair(repair))
		if len(r.Problems) != 0 || len(r.Repaired) != 0 {
			t.Fatalf("repair=%v: problems %v, repaired %v", repair, summary(r), r.Repaired)
		}
		if r.Blobs != f.blobs || r.Images != len(f.names) {
			t.Fatalf("repair=%v: checked %d blobs, %d images; want %d, %d", repair, r.Blobs, r.Images, f.blobs, len(f.names))
		}
	}
	if got := f.present(t, f.names...); !slices.Equal(got, f.names) {
		t.Fatalf("names after repairing a clean store: %v", got)
	}
}

// Each case damages one blob; the check must name the blob and every name
// that needs it, and repair must delete the blob and exactly those names.
func TestFsckCorruptBlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		blob   func(*fixture) ocispec.Descriptor
		damage func(*testing.T, *fixture, ocispec.Descriptor)
		// needers are the names that need the blob; extra are problems
		// besides corrupt-blob and their dangling names.
		needers []string
		extra   func(*fixture) []string
	}{
		{name: "shared layer", blob: func(f *fixture) ocispec.Descriptor { return f.shared }, needers: []string{nameApp, nameMulti}},
		{name: "truncated layer", blob: func(f *fixture) ocispec.Descriptor { return f.layerApp }, needers: []string{nameApp},
			damage: func(t *testing.T, f *fixture, d ocispec.Descriptor) { f.truncate(t, d) }},
		{name: "config", blob: func(f *fixture) ocispec.Descriptor { return f.configApp }, needers: []string{nameApp}},
		{name: "manifest named directly", blob: func(f *fixture) ocispec.Descriptor { return f.manifestApp }, needers: []string{nameApp}},
		// The only stored child of the index: without it the index has
		// no platform left, which is reported as such.
		{name: "platform manifest of an index", blob: func(f *fixture) ocispec.Descriptor { return f.manifestAMD }, needers: nil,
			extra: func(f *fixture) []string { return []string{line(KindDanglingName, nameMulti)} }},
		{name: "docker manifest under the wrapper", blob: func(f *fixture) ocispec.Descriptor { return f.manifestDock },
			extra: func(f *fixture) []string { return []string{line(KindDanglingName, nameDock)} }},
		{name: "wrapper index", blob: func(f *fixture) ocispec.Descriptor { return f.wrapper }, needers: []string{nameDock}},
		{name: "docker config", blob: func(f *fixture) ocispec.Descriptor { return f.configDock }, needers: []string{nameDock}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			d := tc.blob(f)
			if tc.damage != nil {
				tc.damage(t, f, d)
			} else {
				f.corrupt(t, d.Digest)
			}
			wantLines := []string{line(KindCorruptBlob, d.Digest)}
			for _, n := range tc.needers {
				wantLines = append(wantLines, line(KindDanglingName, n))
			}
			if tc.extra != nil {
				wantLines = append(wantLines, tc.extra(f)...)
			}
			r := check(t, f.st)
			if got := summary(r); !slices.Equal(got, want(wantLines...)) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want(wantLines...), "\n"))
			}
			p := r.Problems[slices.IndexFunc(r.Problems, func(p Problem) bool { return p.Kind == KindCorruptBlob })]
			if !strings.Contains(p.Detail, "hashes to sha256:") {
				t.Errorf("corrupt-blob detail %q does not say what the content hashes to", p.Detail)
			}
			if len(tc.needers) > 0 && p.Name != tc.needers[0] {
				t.Errorf("corrupt-blob names image %q, want %q", p.Name, tc.needers[0])
			}
			if len(r.Remaining()) != len(r.Problems) || len(r.Repaired) != 0 {
				t.Fatalf("a check without repair repaired something: %+v", r)
			}
			if !blobExists(f.st, d.Digest) {
				t.Fatal("a check without repair deleted the blob")
			}

			r = check(t, f.st, WithRepair(true))
			if rem := r.Remaining(); len(rem) != 0 {
				t.Fatalf("not repaired: %+v", rem)
			}
			if blobExists(f.st, d.Digest) {
				t.Fatal("corrupt blob still in the store")
			}
			removed := append(slices.Clone(tc.needers), danglingNames(r)...)
			if got, wantNames := f.present(t, f.names...), f.without(removed...); !slices.Equal(got, wantNames) {
				t.Fatalf("names after repair %v, want %v", got, wantNames)
			}
			if !slices.Contains(r.Repaired, "deleted corrupt blob "+d.Digest.String()) {
				t.Fatalf("repaired %v", r.Repaired)
			}
			assertClean(t, f.st)
		})
	}
}

func danglingNames(r *Report) []string {
	var out []string
	for _, p := range r.Problems {
		if p.Kind == KindDanglingName {
			out = append(out, p.Name)
		}
	}
	return out
}

// A foreign layer may be absent, so a corrupt one costs the image nothing:
// the blob goes, the name stays.
func TestFsckCorruptForeignLayerKeepsName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := []byte("foreign layer, never fetched")
	if err := f.st.WriteBlob(context.Background(), f.foreign, body); err != nil {
		t.Fatal(err)
	}
	assertClean(t, f.st)
	f.corrupt(t, f.foreign.Digest)
	if got := summary(check(t, f.st)); !slices.Equal(got, want(line(KindCorruptBlob, f.foreign.Digest))) {
		t.Fatalf("problems %v", got)
	}
	r := check(t, f.st, WithRepair(true))
	if len(r.Remaining()) != 0 || blobExists(f.st, f.foreign.Digest) {
		t.Fatalf("not repaired: %+v", r)
	}
	if got := f.present(t, f.names...); !slices.Equal(got, f.names) {
		t.Fatalf("names after repair %v", got)
	}
	assertClean(t, f.st)
}

func TestFsckMissingBlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		blob    func(*fixture) ocispec.Descriptor
		removed []string
		want    func(*fixture) []string
	}{
		{name: "layer", blob: func(f *fixture) ocispec.Descriptor { return f.layerApp }, removed: []string{nameApp},
			want: func(f *fixture) []string {
				return []string{line(KindMissingBlob, f.layerApp.Digest), line(KindDanglingName, nameApp)}
			}},
		{name: "shared layer", blob: func(f *fixture) ocispec.Descriptor { return f.shared }, removed: []string{nameApp, nameMulti},
			want: func(f *fixture) []string {
				return []string{line(KindMissingBlob, f.shared.Digest), line(KindDanglingName, nameApp), line(KindDanglingName, nameMulti)}
			}},
		{name: "docker config", blob: func(f *fixture) ocispec.Descriptor { return f.configDock }, removed: []string{nameDock},
			want: func(f *fixture) []string {
				return []string{line(KindMissingBlob, f.configDock.Digest), line(KindDanglingName, nameDock)}
			}},
		{name: "manifest named directly", blob: func(f *fixture) ocispec.Descriptor { return f.manifestApp }, removed: []string{nameApp},
			want: func(f *fixture) []string {
				return []string{line(KindMissingBlob, f.manifestApp.Digest), line(KindDanglingName, nameApp)}
			}},
		// Absent children of an index are normal; an index with none
		// present is not.
		{name: "only stored child of an index", blob: func(f *fixture) ocispec.Descriptor { return f.manifestAMD }, removed: []string{nameMulti},
			want: func(f *fixture) []string { return []string{line(KindDanglingName, nameMulti)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			d := tc.blob(f)
			f.remove(t, d.Digest)
			r := check(t, f.st)
			if got, w := summary(r), want(tc.want(f)...); !slices.Equal(got, w) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
			}
			for _, p := range r.Problems {
				if p.Kind == KindMissingBlob && (p.Name != tc.removed[0] || !strings.Contains(p.Detail, "not in the store")) {
					t.Errorf("missing-blob problem %+v", p)
				}
				if p.Kind == KindDanglingName && p.Digest == "" {
					t.Errorf("dangling-name without the digest it points to: %+v", p)
				}
			}
			r = check(t, f.st, WithRepair(true))
			if rem := r.Remaining(); len(rem) != 0 {
				t.Fatalf("not repaired: %+v", rem)
			}
			if got, w := f.present(t, f.names...), f.without(tc.removed...); !slices.Equal(got, w) {
				t.Fatalf("names after repair %v, want %v", got, w)
			}
			assertClean(t, f.st)
		})
	}
}

func TestFsckUnreadableManifest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// build stores a broken document, names it as name and returns
		// the digest of the blob that does not parse.
		build func(*testing.T, *fixture) digest.Digest
	}{
		{name: "manifest is not JSON", build: func(t *testing.T, f *fixture) digest.Digest {
			m := f.put(t, ocispec.MediaTypeImageManifest, []byte("this is not a manifest"))
			f.name(t, "example.com/broken:1", m)
			return m.Digest
		}},
		{name: "index without manifests", build: func(t *testing.T, f *fixture) digest.Digest {
			idx := f.put(t, ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}`))
			f.name(t, "example.com/broken:1", idx)
			return idx.Digest
		}},
		{name: "config is not JSON", build: func(t *testing.T, f *fixture) digest.Digest {
			cfg := f.put(t, ocispec.MediaTypeImageConfig, []byte("{truncated"))
			m := f.putJSON(t, ocispec.MediaTypeImageManifest, imageManifest(ocispec.MediaTypeImageManifest, cfg, f.shared))
			f.name(t, "example.com/broken:1", m)
			return cfg.Digest
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			bad := tc.build(t, f)
			r := check(t, f.st)
			if got, w := summary(r), want(line(KindUnreadableManifest, bad), line(KindDanglingName, "example.com/broken:1")); !slices.Equal(got, w) {
				t.Fatalf("problems %v, want %v", got, w)
			}
			r = check(t, f.st, WithRepair(true))
			if rem := r.Remaining(); len(rem) != 0 {
				t.Fatalf("not repaired: %+v", rem)
			}
			if got, w := f.present(t, f.names...), f.without("example.com/broken:1"); !slices.Equal(got, w) {
				t.Fatalf("names after repair %v, want %v", got, w)
			}
			// The blob is intact content, just not a usable document:
			// nothing refers to it any more, and it is left in place.
			if _, err := f.st.Info(ctx, bad); err != nil {
				t.Fatalf("repair deleted the intact blob: %v", err)
			}
			assertClean(t, f.st)
		})
	}
}

func TestFsckSizeMismatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lying := f.layerApp
	lying.Size++
	m := f.putJSON(t, ocispec.MediaTypeImageManifest, imageManifest(ocispec.MediaTypeImageManifest, f.configApp, f.shared, lying))
	f.name(t, "example.com/lying:1", m)
	r := check(t, f.st)
	if got, w := summary(r), want(line(KindSizeMismatch, f.layerApp.Digest), line(KindDanglingName, "example.com/lying:1")); !slices.Equal(got, w) {
		t.Fatalf("problems %v, want %v", got, w)
	}
	r = check(t, f.st, WithRepair(true))
	if len(r.Remaining()) != 0 || !blobExists(f.st, f.layerApp.Digest) {
		t.Fatalf("repair: %+v", r)
	}
	if got, w := f.present(t, f.names...), f.without("example.com/lying:1"); !slices.Equal(got, w) {
		t.Fatalf("names after repair %v, want %v", got, w)
	}
	assertClean(t, f.st)
}

func TestFsckStrayFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hex := strings.Repeat("ab", 32)
	files := map[string]string{
		"sha256/not-a-digest":                       "temp file of some tool",
		"sha256/" + strings.ToUpper(hex):            "uppercase is not a valid digest",
		"sha256/" + hex[:10]:                        "too short",
		"stray.txt":                                 "directly in blobs/",
		"md5/" + strings.Repeat("0", 32):            "unknown algorithm",
		"sha256/" + hex + "/inside-a-blob-like-dir": "a directory named like a blob",
	}
	for rel, content := range files {
		p := blobsPath(f.st, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := check(t, f.st)
	w := want(
		line(KindStrayFile, "blobs/sha256/not-a-digest"),
		line(KindStrayFile, "blobs/sha256/"+strings.ToUpper(hex)),
		line(KindStrayFile, "blobs/sha256/"+hex[:10]),
		line(KindStrayFile, "blobs/stray.txt"),
		line(KindCorruptBlob, "sha256:"+hex),
	)
	if got := summary(r); !slices.Equal(got, w) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
	// The directory named like a blob is counted (as a corrupt blob); the
	// stray files are not.
	if r.Blobs != f.blobs+1 {
		t.Fatalf("stray files counted as blobs: %d, want %d", r.Blobs, f.blobs+1)
	}
	r = check(t, f.st, WithRepair(true))
	if rem := r.Remaining(); len(rem) != 0 {
		t.Fatalf("not repaired: %+v", rem)
	}
	for _, p := range r.Problems {
		if p.Path != "" && exists(filepath.Join(f.st.Root(), p.Path)) {
			t.Errorf("%s still exists", p.Path)
		}
	}
	if exists(blobsPath(f.st, "sha256", hex)) {
		t.Error("the directory named like a blob is still there")
	}
	if got := f.present(t, f.names...); !slices.Equal(got, f.names) {
		t.Fatalf("names after repair %v", got)
	}
	if !exists(blobsPath(f.st, filepath.FromSlash("md5/"+strings.Repeat("0", 32)))) {
		t.Fatal("a blob of an algorithm imagec cannot verify was deleted")
	}
	assertClean(t, f.st)
}

// A symlink where a blob belongs is not the blob, even when it points at a
// file of the right content: corrupt, its names dangling, and repair
// deletes the link and never its target.
func TestFsckSymlinkedBlob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	d := f.configApp
	body, err := f.st.ReadBlob(context.Background(), d.Digest, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "same-content")
	if err := os.WriteFile(target, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f.remove(t, d.Digest)
	if err := os.Symlink(target, f.st.Path(d.Digest)); err != nil {
		t.Fatal(err)
	}
	r := check(t, f.st)
	if got, w := summary(r), want(line(KindCorruptBlob, d.Digest), line(KindDanglingName, nameApp)); !slices.Equal(got, w) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
	if p := r.Problems[0]; !strings.Contains(p.Detail, "not a regular file") {
		t.Errorf("detail %q", p.Detail)
	}
	r = check(t, f.st, WithRepair(true))
	if rem := r.Remaining(); len(rem) != 0 {
		t.Fatalf("not repaired: %+v", rem)
	}
	if _, err := os.Lstat(f.st.Path(d.Digest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link is still there: %v", err)
	}
	if got, err := os.ReadFile(target); err != nil || string(got) != string(body) {
		t.Errorf("the link's target was touched: %v", err)
	}
	assertClean(t, f.st)
}

// A partial download whose writer is gone is reported with its size and
// pruned on repair; one whose writer is still open is neither reported nor
// touched, and its writer carries on.
func TestFsckIngest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	staleBody := []byte("0123456789")
	staleDesc := describe(ocispec.MediaTypeImageLayerGzip, staleBody)
	w, err := f.st.Writer(ctx, staleDesc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(staleBody[:3]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	heldBody := []byte("held by a live writer")
	heldDesc := describe(ocispec.MediaTypeImageLayerGzip, heldBody)
	held, err := f.st.Writer(ctx, heldDesc)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.Write(heldBody[:4]); err != nil {
		t.Fatal(err)
	}
	heldData := filepath.Join(f.st.Root(), ingestDir, "sha256-"+heldDesc.Digest.Encoded(), "data")
	staleDir := filepath.Join(f.st.Root(), ingestDir, "sha256-"+staleDesc.Digest.Encoded())

	r := check(t, f.st)
	if len(r.Problems) != 0 || len(r.Resumable) != 1 {
		t.Fatalf("problems %v, resumable %v: want one resumable partial download and no problem", r.Problems, r.Resumable)
	}
	if p := r.Resumable[0]; p.Kind != KindStaleIngest || p.Digest != staleDesc.Digest || !strings.Contains(p.Detail, "3 bytes") ||
		p.Path != ".imagec/ingest/sha256-"+staleDesc.Digest.Encoded() {
		t.Fatalf("partial download %+v", p)
	}

	r = check(t, f.st, WithRepair(true))
	if len(r.Remaining()) != 0 || !slices.Equal(r.Repaired, []string{"pruned stale ingest entry " + r.Resumable[0].Path}) {
		t.Fatalf("repair: %+v", r)
	}
	if exists(staleDir) {
		t.Fatal("stale ingest entry still there")
	}
	if fi, err := os.Stat(heldData); err != nil || fi.Size() != 4 {
		t.Fatalf("held ingest entry touched: %v, %v", fi, err)
	}
	// The live writer never noticed.
	if _, err := held.Write(heldBody[4:]); err != nil {
		t.Fatal(err)
	}
	if err := held.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := f.st.ReadBlob(ctx, heldDesc.Digest, 1<<10); err != nil || string(b) != string(heldBody) {
		t.Fatalf("committed blob %q, %v", b, err)
	}
	assertClean(t, f.st)
}

func TestFsckCanceled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Check(ctx, f.st, WithRepair(true)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check with a canceled context: %v", err)
	}
	if got := f.present(t, f.names...); !slices.Equal(got, f.names) {
		t.Fatalf("names after a canceled check %v", got)
	}
}

func TestFsckProblemString(t *testing.T) {
	t.Parallel()
	d := digest.FromString("x")
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{Kind: KindCorruptBlob, Digest: d, Name: "a:1", Detail: "content hashes to y"}, fmt.Sprintf("corrupt-blob %s : content hashes to y", d)},
		{Problem{Kind: KindDanglingName, Digest: d, Name: "a:1", Detail: "content incomplete", Repaired: true}, "dangling-name a:1 : content incomplete (repaired)"},
		{Problem{Kind: KindDanglingName, Digest: d, Detail: "no name"}, fmt.Sprintf("dangling-name %s : no name", d)},
		{Problem{Kind: KindStrayFile, Path: "blobs/x", Detail: "stray"}, "stray-file blobs/x : stray"},
		{Problem{Kind: KindStaleIngest, Path: ".imagec/ingest/junk", Detail: "3 bytes"}, "stale-ingest .imagec/ingest/junk : 3 bytes"},
		{Problem{Kind: KindMissingBlob, Detail: "?"}, "missing-blob - : ?"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// A name pinning a digest that its (intact) content does not have is
// reported and, on repair, removed; the name pinning the right digest stays.
func TestFsckMisnamed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wrong := "example.com/app@" + f.manifestAMD.Digest.String()
	right := "example.com/app@" + f.manifestApp.Digest.String()
	storetest.ForgeName(t, f.st.Root(), wrong, f.manifestApp) // the store itself refuses it
	f.names = append(f.names, wrong)
	f.name(t, right, f.manifestApp)
	r := check(t, f.st)
	if got, w := summary(r), want(line(KindMisnamed, wrong)); !slices.Equal(got, w) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
	r = check(t, f.st, WithRepair(true))
	if rem := r.Remaining(); len(rem) != 0 {
		t.Fatalf("not repaired: %+v", rem)
	}
	if got, w := f.present(t, f.names...), f.without(wrong); !slices.Equal(got, w) {
		t.Fatalf("names after repair %v, want %v", got, w)
	}
	assertClean(t, f.st)
}
