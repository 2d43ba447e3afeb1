// Command imagec-bench times imagec next to the other pullers installed on
// the machine (crane, skopeo, regctl, containerd 1.x and 2.x through ctr),
// pulling the same deterministic images from the same in-process registry
// on loopback (or through a proxy that shapes the link like a CDN's, with
// -shape), runs alternating, and writes the medians and ratios to
// docs/benchmarks.md.
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

	"github.com/imagec/imagec/test/internal/shaper"
	"github.com/imagec/imagec/test/internal/testregistry"
)

type config struct {
	runs        int
	scale       float64
	out         string
	cache       string
	imagec      string
	base        string
	only        string
	workloads   string
	serve       bool
	containerd2 string
	snapshotter string
	shape       string
	fixtures    string
	workdir     string
}

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 5, "timed runs of each tool per workload")
	flag.Float64Var(&c.scale, "scale", 1, "fixture size factor, and of the store-scale workload's name counts (1 = full size; 0.1 for a quick look)")
	flag.StringVar(&c.out, "out", "docs/benchmarks.md", "report file")
	flag.StringVar(&c.cache, "cache", filepath.Join(os.TempDir(), "imagec-bench-cache"), "registry storage kept between runs (fixtures are deterministic)")
	flag.StringVar(&c.imagec, "imagec", "", "imagec binary (default: built from this checkout)")
	flag.StringVar(&c.base, "base", "", "another imagec binary (an earlier build) to time beside this one, as the tool imagec-base")
	flag.StringVar(&c.only, "tools", "", "comma-separated tools to run (default: every one installed)")
	flag.StringVar(&c.workloads, "workloads", "pull,unpack,extract,warm,resume,scale", "comma-separated workloads: pull, unpack, extract, warm, resume, scale")
	flag.BoolVar(&c.serve, "serve", false, "only serve the fixtures (for profiling by hand) until interrupted")
	flag.StringVar(&c.containerd2, "containerd2", "", "directory with containerd 2.x and its ctr, timed as the tool containerd2 (default: /root/containerd2/bin, else $GOPATH/bin, if a 2.x is there)")
	flag.StringVar(&c.snapshotter, "snapshotter", "overlayfs", "snapshotter both containerds unpack into (their default; native where overlayfs does not work)")
	flag.StringVar(&c.shape, "shape", "", "put a proxy between every tool and the registry that caps each connection and adds a round trip: RATE,RTT as in 20MB/s,20ms")
	flag.StringVar(&c.fixtures, "fixtures", "", "comma-separated fixtures (default: "+defaultFixtures+"; with -shape: "+shapedFixtures+")")
	flag.StringVar(&c.workdir, "workdir", "", "where the run directories go (default: the system's temporary directory); a tmpfs mount takes the disk out of the timings")
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
	var shape *shaper.Shape
	if c.shape != "" {
		sh, err := shaper.Parse(c.shape)
		if err != nil {
			return err
		}
		shape = &sh
	}
	list := c.fixtures
	if list == "" {
		list = defaultFixtures
		if shape != nil {
			list = shapedFixtures
		}
	}
	fxs, err := selectFixtures(list)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(c.workdir, "imagec-bench-")
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
	// The store-scale workload brings its own image: alone, it needs none.
	if c.workloads == "scale" {
		fxs = nil
	}
	imgs, err := seed(ctx, reg, fxs, c.scale, logf)
	if err != nil {
		return err
	}
	host := reg.Host
	if shape != nil {
		p, err := shaper.Listen(reg.Host, *shape)
		if err != nil {
			return err
		}
		defer p.Close()
		host = p.Addr()
		logf("shaped link at %s: %s", host, shape)
	}
	if c.serve {
		logf("serving the fixtures at %s until interrupted", host)
		<-ctx.Done()
		return nil
	}

	all := selectTools(c)
	r := &report{cfg: c, started: time.Now(), fixtures: imgs, order: fxs, workdir: filepath.Dir(work), fs: fsType(work), shape: shape}
	for _, t := range all {
		r.versions = append(r.versions, fmt.Sprintf("%s: %s", t.name, versionOf(t)))
		if t.daemon != nil {
			r.notes = append(r.notes, fmt.Sprintf("%s: a daemon per run, own root, state and socket; configuration: %s; snapshotter %s", t.name, t.daemon.about, c.snapshotter))
		}
	}
	b := &bencher{cfg: c, reg: reg, host: host, work: work, fixtures: fxs, tools: all, report: r}
	for _, w := range strings.Split(c.workloads, ",") {
		if err := b.workload(ctx, w); err != nil {
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
