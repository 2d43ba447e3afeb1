// Command imagec-bench times imagec next to the other pullers installed on
// the machine (crane, skopeo, regctl, containerd's ctr), pulling the same
// deterministic images from the same in-process registry on loopback, runs
// alternating, and writes the medians and ratios to docs/benchmarks.md.
// It is not part of the test pass: run it with `make bench`, which builds
// it and runs it in the repository's root (where it builds ./cmd/imagec
// and writes docs/).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/imagec/imagec/test/internal/testregistry"
)

type config struct {
	runs      int
	scale     float64
	out       string
	cache     string
	imagec    string
	base      string
	only      string
	workloads string
	serve     bool
}

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 5, "timed runs of each tool per workload")
	flag.Float64Var(&c.scale, "scale", 1, "fixture size factor (1 = full size; 0.1 for a quick look)")
	flag.StringVar(&c.out, "out", "docs/benchmarks.md", "report file")
	flag.StringVar(&c.cache, "cache", filepath.Join(os.TempDir(), "imagec-bench-cache"), "registry storage kept between runs (fixtures are deterministic)")
	flag.StringVar(&c.imagec, "imagec", "", "imagec binary (default: built from this checkout)")
	flag.StringVar(&c.base, "base", "", "another imagec binary (an earlier build) to time beside this one, as the tool imagec-base")
	flag.StringVar(&c.only, "tools", "", "comma-separated tools to run (default: every one installed)")
	flag.StringVar(&c.workloads, "workloads", "pull,unpack,extract,warm,resume", "comma-separated workloads")
	flag.BoolVar(&c.serve, "serve", false, "only serve the fixtures (for profiling by hand) until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "imagec-bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func bench(ctx context.Context, c config) error {
	work, err := os.MkdirTemp("", "imagec-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if c.imagec == "" {
		c.imagec = filepath.Join(work, "imagec")
		logf("building imagec")
		if out, err := exec.Command("go", "build", "-o", c.imagec, "./cmd/imagec").CombinedOutput(); err != nil {
			return fmt.Errorf("building imagec: %v\n%s", err, out)
		}
	}
	storage := filepath.Join(c.cache, fmt.Sprintf("scale-%g", c.scale))
	reg, err := testregistry.New(ctx, testregistry.WithStorageDir(storage))
	if err != nil {
		return err
	}
	defer reg.Close()
	imgs, err := seed(ctx, reg, c.scale, logf)
	if err != nil {
		return err
	}
	if c.serve {
		logf("serving the fixtures at %s until interrupted", reg.Host)
		<-ctx.Done()
		return nil
	}

	all := installed(append(tools(c.imagec, c.base), containerdTool()))
	if c.only != "" {
		var keep []tool
		for _, t := range all {
			if strings.Contains(","+c.only+",", ","+t.name+",") {
				keep = append(keep, t)
			}
		}
		all = keep
	}
	r := &report{cfg: c, started: time.Now(), fixtures: imgs}
	for _, t := range all {
		r.versions = append(r.versions, fmt.Sprintf("%s: %s", t.name, versionOf(t)))
	}
	b := &bencher{cfg: c, reg: reg, work: work, tools: all, report: r}
	for _, w := range strings.Split(c.workloads, ",") {
		var err error
		switch w {
		case "pull":
			err = b.cold(ctx, "pull", func(t tool) func(string, string) []string { return t.pull })
		case "unpack":
			err = b.cold(ctx, "unpack", func(t tool) func(string, string) []string { return t.unpack })
		case "warm":
			err = b.warm(ctx)
		case "resume":
			err = b.resume(ctx)
		case "extract":
			err = b.extract(ctx)
		default:
			err = fmt.Errorf("unknown workload %q", w)
		}
		if err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.out, []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	logf("wrote %s", c.out)
	return nil
}
