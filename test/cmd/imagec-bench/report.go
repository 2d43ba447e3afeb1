package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/imagec/imagec/internal/fixtures"
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
	versions []string
	rows     []row
	notes    []string
	failures []string
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

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (test/cmd/imagec-bench) on %s; %d runs per tool, alternating; scale %g.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 UTC"), r.cfg.runs, r.cfg.scale)
	fmt.Fprintf(&b, "## Machine\n\n- %s\n- %d CPUs (GOMAXPROCS %d), %s memory\n- kernel %s, %s\n\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), memTotal(), kernel(), runtime.Version())
	b.WriteString("## Tools\n\n")
	for _, v := range r.versions {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	b.WriteString("\nEvery tool pulls from the same CNCF Distribution registry, started in-process on loopback over plain HTTP, into a fresh directory each run.\n\n## Fixtures\n\n| image | layers | compressed | about |\n|---|---|---|---|\n")
	for _, fx := range benchImages {
		img := r.fixtures[fx.name]
		if img == nil {
			continue
		}
		var size int64
		for _, l := range img.Layers {
			size += l.Size
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f MB | %s |\n", fx.name, len(img.Layers), float64(size)/1e6, fx.about)
	}
	for _, w := range []string{"pull", "unpack", "extract", "warm", "resume"} {
		rows := r.rowsOf(w)
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n| image | tool | median | min | max | peak RSS | imagec / tool |\n|---|---|---|---|---|---|---|\n", workloadTitles[w])
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
	b.WriteString("\nRerun: `make bench` (or `make bench BENCHFLAGS=\"-runs 5 -scale 1\"`). Peers are used when installed: crane and regctl (`go install`), skopeo and containerd (Debian packages; containerd needs root).\n")
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
