package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/imagec/imagec/internal/fixtures"
	"github.com/imagec/imagec/test/internal/shaper"
)

type row struct {
	workload, fixture string
	stats             map[string]stats
	commands          map[string][]string
}

type report struct {
	cfg      config
	started  time.Time
	fixtures map[string]*fixtures.Image
	order    []fixture // the fixtures used, in the order of the tables
	workdir  string    // where the run directories were
	fs       string    // the workdir's filesystem
	shape    *shaper.Shape
	versions []string
	rows     []row
	scale    []scaleRow
	// scaleCommands are the warm pull and the listing the scale workload timed.
	scaleCommands [][]string
	notes         []string
	failures      []string
}

func (r *report) add(workload, fixture string, samples map[string][]sample, commands map[string][]string) {
	st := map[string]stats{}
	for name, ss := range samples {
		st[name] = summarize(ss)
	}
	r.rows = append(r.rows, row{workload: workload, fixture: fixture, stats: st, commands: commands})
}

var workloadTitles = map[string]string{
	"pull":    "Cold pull into the store (blobs verified)",
	"unpack":  "Cold pull and unpack to a root filesystem",
	"warm":    "Warm re-pull (everything present), including process start",
	"resume":  "Pull resumed after being killed at half of the largest layer",
	"extract": "Unpack from the store (blobs present) against tar -xzf of the same layers",
}

// link says how the tools reached the registry, for the intro and under
// every table.
func (r *report) link() string {
	if r.shape == nil {
		return "loopback, unshaped"
	}
	return "shaped by a proxy on loopback: " + r.shape.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (test/cmd/imagec-bench) on %s; %d runs per tool, alternating; scale %g.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 UTC"), r.cfg.runs, r.cfg.scale)
	fmt.Fprintf(&b, "- Link to the registry: %s.\n- Run directories: under %s, on **%s**.\n\n", r.link(), r.workdir, r.fs)
	if r.shape != nil {
		b.WriteString("Every tool's connections go through a TCP proxy (test/internal/shaper) in front of the registry: each connection is capped by its own token bucket in each direction, its first byte waits one round trip (the handshake), and every byte after crosses in half a round trip each way, so each request and its response cost one round trip more. A tool that opens more connections gets more bandwidth, as it would from a CDN or an object store.\n\n")
	}
	fmt.Fprintf(&b, "## Machine\n\n- %s\n- %d CPUs (GOMAXPROCS %d), %s memory\n- kernel %s, %s\n\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), memTotal(), kernel(), runtime.Version())
	b.WriteString("## Tools\n\n")
	for _, v := range r.versions {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	via := ""
	if r.shape != nil {
		via = ", through the shaping proxy"
	}
	fmt.Fprintf(&b, "\nEvery tool pulls from the same CNCF Distribution registry, started in-process on loopback over plain HTTP%s, into a fresh directory each run.\n\n## Fixtures\n\n| image | layers | compressed | about |\n|---|---|---|---|\n", via)
	for _, fx := range r.order {
		img := r.fixtures[fx.name]
		if img == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f MB | %s |\n", fx.name, len(img.Layers), float64(compressed(img))/1e6, fx.about)
	}
	r.summary(&b)
	for _, w := range []string{"pull", "unpack", "extract", "warm", "resume"} {
		rows := r.rowsOf(w)
		if len(rows) == 0 {
			continue
		}
		title := workloadTitles[w]
		if r.shape != nil {
			title += ", shaped link"
		}
		fmt.Fprintf(&b, "\n## %s\n\nLink: %s; run directories on %s.\n\n| image | tool | median | min | max | peak RSS | imagec / tool |\n|---|---|---|---|---|---|---|\n", title, r.link(), r.fs)
		for _, rw := range rows {
			names := sortedTools(rw.stats)
			base, hasBase := rw.stats["imagec"]
			for _, name := range names {
				s := rw.stats[name]
				ratio := ""
				if hasBase && name != "imagec" && s.median > 0 {
					ratio = fmt.Sprintf("%.2f", base.median.Seconds()/s.median.Seconds())
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.1f MiB | %s |\n", rw.fixture, name, dur(s.median), dur(s.min), dur(s.max), float64(s.medianRSS)/(1<<20), ratio)
			}
		}
		b.WriteString("\nCommands:\n\n")
		seen := map[string]bool{}
		for _, rw := range rows {
			for _, name := range sortedTools(rw.stats) {
				c := strings.Join(rw.commands[name], " ")
				if !seen[name] {
					seen[name] = true
					fmt.Fprintf(&b, "- %s: `%s`\n", name, c)
				}
			}
		}
	}
	r.scaleSection(&b)
	if len(r.notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(r.failures) > 0 {
		b.WriteString("\n## Failures\n\n")
		for _, f := range r.failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(f, "\n", " "))
		}
	}
	// Targets and the analysis of where time goes are written by hand (they
	// need profiles read by a person) and kept beside the generated tables.
	if notes, err := os.ReadFile("docs/performance-notes.md"); err == nil {
		b.WriteString("\n")
		b.Write(notes)
	}
	b.WriteString("\nRerun: `make bench` (or `make bench BENCHFLAGS=\"-runs 5 -scale 1\"`). Peers are used when installed: crane and regctl (`go install`), skopeo and containerd 1.x (Debian packages; containerd needs root), containerd 2.x as containerd2 (`-containerd2 DIR`; by default /root/containerd2/bin or $GOPATH/bin). " +
		"On tmpfs: `mkdir -p /tmp/benchfs && mount -t tmpfs -o size=4g tmpfs /tmp/benchfs && make bench BENCHFLAGS=\"-workdir /tmp/benchfs\"` (the large image's unpack needs about 2.3 GB there at scale 1). " +
		"A shaped link, one large layer: `make bench-shaped`, which writes docs/benchmarks-shaped.md (`-workloads pull,unpack -shape 20MB/s,20ms -fixtures bench/onelayer`). The store-scale workload alone: `-workloads scale`.\n")
	return b.String()
}

func (r *report) rowsOf(w string) []row {
	var out []row
	for _, rw := range r.rows {
		if rw.workload == w {
			out = append(out, rw)
		}
	}
	return out
}

func sortedTools(m map[string]stats) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "imagec") != (names[j] == "imagec") {
			return names[i] == "imagec"
		}
		return names[i] < names[j]
	})
	return names
}

func dur(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "MemTotal:")), "%d", &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}

func kernel() string {
	out, err := exec.Command("uname", "-r").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// peerOrder puts first the peers the targets are stated against.
var peerOrder = []string{"crane", "containerd2", "containerd", "tar -xzf", "imagec-base"}

func peerRank(name string) int {
	if i := slices.Index(peerOrder, name); i >= 0 {
		return i
	}
	return len(peerOrder)
}

// summary is one line per workload and image with imagec's median over
// each peer's: the numbers the targets are stated in, without the search
// through the tables below.
func (r *report) summary(b *strings.Builder) {
	var rows []row
	peers := map[string]bool{}
	for _, w := range []string{"pull", "unpack", "extract"} {
		for _, rw := range r.rowsOf(w) {
			if _, ok := rw.stats["imagec"]; !ok || len(rw.stats) < 2 {
				continue
			}
			rows = append(rows, rw)
			for name := range rw.stats {
				if name != "imagec" {
					peers[name] = true
				}
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	var names []string
	for name := range peers {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		pi, pj := peerRank(names[i]), peerRank(names[j])
		if pi != pj {
			return pi < pj
		}
		return names[i] < names[j]
	})
	fmt.Fprintf(b, "\n## imagec / peer, at a glance\n\nMedian over median, from the tables below (under 1: imagec is faster). Link: %s; run directories on %s.\n\n| workload | image |", r.link(), r.fs)
	for _, n := range names {
		fmt.Fprintf(b, " imagec / %s |", n)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, rw := range rows {
		fmt.Fprintf(b, "| %s | %s |", rw.workload, rw.fixture)
		base := rw.stats["imagec"]
		for _, n := range names {
			cell := ""
			if s, ok := rw.stats[n]; ok && s.median > 0 {
				cell = fmt.Sprintf("%.2f", base.median.Seconds()/s.median.Seconds())
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		b.WriteString("\n")
	}
}
