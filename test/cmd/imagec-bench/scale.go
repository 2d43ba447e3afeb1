package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/reference"
)

// A node or a mirror keeps thousands of names in one store, and every
// command that reads a name reads index.json: the store-scale workload
// times what that costs as the names grow. Its targets are stated as
// absolute times (a warm re-pull with 10,000 names at most twice its time
// with one; `imagec images` in 0.5 s), so this is the one table in the
// report with absolute times to compare against.

// scaleCounts are the name counts timed: a store with the one name its pull
// recorded, and stores with 1,000 and 10,000 (scaled with -scale, so that a
// quick look stays quick).
func scaleCounts(s float64) []int {
	return slices.Compact([]int{1, scaled(1000, s), scaled(10000, s)})
}

// scaleName is the i-th extra name: tags in many repositories of another
// registry, as a mirror's store would hold, all naming the one image.
func scaleName(i int) reference.Reference {
	return reference.MustParse(fmt.Sprintf("mirror.example/team%02d/service%03d:1.%d", i%50, i/50, i%10))
}

// scaleRow is one store size's results.
type scaleRow struct {
	names             int
	indexBytes        int64
	setup             time.Duration
	pull, images, tag stats
}

// scale builds, untimed, a store per name count (imagec pulls the small
// image, then the other names are written beside its own, see nameMany),
// then times a warm re-pull of the image, `imagec images` and `imagec tag`
// in each store, rounds alternating between the stores.
func (b *bencher) scale(ctx context.Context) error {
	imagec, ok := b.imagec()
	if !ok {
		return nil
	}
	if b.report.fixtures[scaleImage.name] == nil {
		imgs, err := seed(ctx, b.reg, []fixture{scaleImage}, b.cfg.scale, logf)
		if err != nil {
			return err
		}
		b.report.fixtures[scaleImage.name] = imgs[scaleImage.name]
		b.report.order = append(b.report.order, scaleImage)
	}
	ref := b.ref(scaleImage.name)
	counts := scaleCounts(b.cfg.scale)
	rows := map[int]*scaleRow{}
	for _, n := range counts {
		dir := filepath.Join(b.work, fmt.Sprintf("scale-%d", n))
		start := time.Now()
		// Kept for the invocation: a second scale in -workloads reuses it.
		if !exists(filepath.Join(dir, "index.json")) {
			if _, err := run(ctx, imagec.pull(ref, dir), nil); err != nil {
				return err
			}
			if err := nameMany(ctx, dir, ref, n-1); err != nil {
				return err
			}
		}
		fi, err := os.Stat(filepath.Join(dir, "index.json"))
		if err != nil {
			return err
		}
		rows[n] = &scaleRow{names: n, indexBytes: fi.Size(), setup: time.Since(start)}
		logf("scale: store with %d names, index.json %d bytes (set up in %s)", n, fi.Size(), time.Since(start).Round(time.Millisecond))
	}
	images := func(dir string) []string { return []string{imagec.version[0], "--root", dir, "images"} }
	// Naming the image again under its own name replaces the entry in
	// place: the store keeps its size, and the time is one rewrite of
	// index.json, what any change to the names costs. (A warm re-pull
	// finds its tag unchanged with a HEAD and writes nothing.)
	tag := func(dir string) []string { return []string{imagec.version[0], "--root", dir, "tag", ref, ref} }
	pulls, lists, tags := map[int][]sample{}, map[int][]sample{}, map[int][]sample{}
	b.reg.ResetRequests()
	rounds := b.cfg.runs * 4 // short commands: more samples for a steady median
	for i := range rounds {
		for k := range counts {
			n := counts[(i+k)%len(counts)]
			dir := filepath.Join(b.work, fmt.Sprintf("scale-%d", n))
			p, err := run(ctx, imagec.pull(ref, dir), nil)
			if err != nil {
				return err
			}
			l, err := run(ctx, images(dir), nil)
			if err != nil {
				return err
			}
			t, err := run(ctx, tag(dir), nil)
			if err != nil {
				return err
			}
			pulls[n], lists[n], tags[n] = append(pulls[n], p), append(lists[n], l), append(tags[n], t)
			logf("scale %d names run %d: warm pull %.3fs %.0f MiB, images %.3fs %.0f MiB, tag %.3fs", n, i+1,
				p.wall.Seconds(), float64(p.maxRSS)/(1<<20), l.wall.Seconds(), float64(l.maxRSS)/(1<<20), t.wall.Seconds())
		}
	}
	for _, n := range counts {
		rows[n].pull, rows[n].images, rows[n].tag = summarize(pulls[n]), summarize(lists[n]), summarize(tags[n])
		if err := checkNames(ctx, filepath.Join(b.work, fmt.Sprintf("scale-%d", n)), n); err != nil {
			return err
		}
		b.report.scale = append(b.report.scale, *rows[n])
	}
	b.report.scaleCommands = [][]string{imagec.pull(ref, "DIR"), images("DIR"), tag("DIR")}
	b.report.notes = append(b.report.notes, fmt.Sprintf("scale: %d blob requests during %d warm pulls", b.reg.BlobGets(), rounds*len(counts)))
	return nil
}

// nameMany gives the image ref names in the store at root n more names,
// after the name its pull recorded. index.json is written once, as the
// store writes it (encoding/json of the OCI index, entries in order), and
// then read back through the library, which must list every name and find
// the last: recording the names one image.Tag (the call behind `imagec
// tag`) at a time rewrites the whole file per name, and took 5 min 21 s
// for 10,000 names on the bench machine, too long for a setup step. What
// one more name costs in a store of each size is timed instead (the tag
// column).
func nameMany(ctx context.Context, root, ref string, n int) error {
	st, err := local.Open(root)
	if err != nil {
		return err
	}
	imgs, err := image.Find(ctx, st, ref)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(root, "index.json"))
	if err != nil {
		return err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return err
	}
	for i := range n {
		d := imgs[0].Entry
		d.Annotations = map[string]string{ocispec.AnnotationRefName: scaleName(i).String()}
		idx.Manifests = append(idx.Manifests, d)
	}
	if b, err = json.Marshal(idx); err != nil {
		return err
	}
	tmp := filepath.Join(root, "index.json.bench")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(root, "index.json")); err != nil {
		return err
	}
	return checkNames(ctx, root, n+1)
}

// checkNames reads the store at root as imagec does: it must hold want
// names, the last of them findable.
func checkNames(ctx context.Context, root string, want int) error {
	st, err := local.Open(root)
	if err != nil {
		return err
	}
	all, err := st.Images(ctx)
	if err != nil {
		return err
	}
	if len(all) != want {
		return fmt.Errorf("scale store %s: %d names, want %d", root, len(all), want)
	}
	_, err = st.Image(ctx, all[len(all)-1].Annotations[ocispec.AnnotationRefName])
	return err
}
