package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

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
	names        int
	indexBytes   int64
	setup        time.Duration
	pull, images stats
}

// scale builds, untimed, a store per name count (imagec pulls the small
// image, then the names are recorded with image.Tag, the call behind
// `imagec tag`, in this process: 10,000 tag commands would each start a
// process), then times a warm re-pull of the image and `imagec images` in
// each store, rounds alternating between the stores.
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
	pulls, lists := map[int][]sample{}, map[int][]sample{}
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
			pulls[n], lists[n] = append(pulls[n], p), append(lists[n], l)
			logf("scale %d names run %d: warm pull %.3fs %.0f MiB, images %.3fs %.0f MiB", n, i+1,
				p.wall.Seconds(), float64(p.maxRSS)/(1<<20), l.wall.Seconds(), float64(l.maxRSS)/(1<<20))
		}
	}
	for _, n := range counts {
		rows[n].pull, rows[n].images = summarize(pulls[n]), summarize(lists[n])
		b.report.scale = append(b.report.scale, *rows[n])
	}
	b.report.scaleCommands = [][]string{imagec.pull(ref, "DIR"), images("DIR")}
	b.report.notes = append(b.report.notes, fmt.Sprintf("scale: %d blob requests during %d warm pulls", b.reg.BlobGets(), rounds*len(counts)))
	return nil
}

// nameMany gives the image ref names in the store at root n more names.
func nameMany(ctx context.Context, root, ref string, n int) error {
	st, err := local.Open(root)
	if err != nil {
		return err
	}
	for i := range n {
		if _, err := image.Tag(ctx, st, ref, scaleName(i)); err != nil {
			return err
		}
	}
	return nil
}
