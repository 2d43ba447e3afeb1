package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/imagec/imagec/test/internal/testregistry"
)

type bencher struct {
	cfg      config
	reg      *testregistry.Registry
	host     string // where the tools reach the registry: its own address, or the shaping proxy's
	work     string
	fixtures []fixture
	tools    []tool
	report   *report
}

func (b *bencher) ref(fixture string) string { return b.host + "/" + fixture + ":latest" }

// workload runs the workload named w.
func (b *bencher) workload(ctx context.Context, w string) error {
	switch w {
	case "pull":
		return b.cold(ctx, "pull", func(t tool) func(string, string) []string { return t.pull })
	case "unpack":
		return b.cold(ctx, "unpack", func(t tool) func(string, string) []string { return t.unpack })
	case "warm":
		return b.warm(ctx)
	case "resume":
		return b.resume(ctx)
	case "extract":
		return b.extract(ctx)
	case "scale":
		return b.scale(ctx)
	}
	return fmt.Errorf("unknown workload %q", w)
}

// imagec is the imagec under test, if it was not left out with -tools: the
// workloads that time imagec alone need it.
func (b *bencher) imagec() (tool, bool) {
	for _, t := range b.tools {
		if t.name == "imagec" {
			return t, true
		}
	}
	return tool{}, false
}

// fresh makes an empty directory for one run.
func (b *bencher) fresh(name string) (string, error) {
	return os.MkdirTemp(b.work, name+"-")
}

// cold times every tool that has the workload, on every fixture, runs
// alternating between tools so that drift in the machine hits all alike.
func (b *bencher) cold(ctx context.Context, workload string, cmdOf func(tool) func(ref, dir string) []string) error {
	for _, fx := range b.fixtures {
		ref := b.ref(fx.name)
		samples := map[string][]sample{}
		for i := range b.cfg.runs {
			for k := range b.tools {
				t := b.tools[(i+k)%len(b.tools)]
				build := cmdOf(t)
				if build == nil {
					continue
				}
				s, err := b.once(ctx, t, ref, build)
				if err != nil {
					b.report.failures = append(b.report.failures, fmt.Sprintf("%s %s %s: %v", workload, fx.name, t.name, err))
					logf("%s %s %s: FAILED: %v", workload, fx.name, t.name, err)
					continue
				}
				samples[t.name] = append(samples[t.name], s)
				logf("%s %s %s run %d: %.3fs, %.0f MiB", workload, fx.name, t.name, i+1, s.wall.Seconds(), float64(s.maxRSS)/(1<<20))
			}
		}
		b.report.add(workload, fx.name, samples, b.commandsOf(cmdOf, ref))
	}
	return nil
}

// once runs one cold command in a fresh directory and removes it after.
func (b *bencher) once(ctx context.Context, t tool, ref string, build func(ref, dir string) []string) (sample, error) {
	dir, err := b.fresh(t.name)
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dir)
	var env []string
	if t.env != nil {
		env = t.env(dir)
	}
	if t.setup != nil {
		if _, err := run(ctx, t.setup(b.host, dir), env); err != nil {
			return sample{}, err
		}
	}
	var d *daemon
	if t.daemon != nil {
		if d, err = startDaemon(*t.daemon, dir); err != nil {
			return sample{}, err
		}
	}
	settle()
	s, err := run(ctx, build(ref, dir), env)
	if d != nil {
		s.maxRSS = max(s.maxRSS, d.stop())
		unmountUnder(dir)
	}
	return s, err
}

func (b *bencher) commandsOf(cmdOf func(tool) func(ref, dir string) []string, ref string) map[string][]string {
	out := map[string][]string{}
	for _, t := range b.tools {
		if build := cmdOf(t); build != nil {
			out[t.name] = build(ref, "DIR")
		}
	}
	return out
}

// warm times imagec pulling an image it already has: no blob may be asked
// for, and process start is included.
func (b *bencher) warm(ctx context.Context) error {
	imagec, ok := b.imagec()
	if !ok {
		return nil
	}
	for _, fx := range b.fixtures {
		ref := b.ref(fx.name)
		dir, err := b.fresh("warm")
		if err != nil {
			return err
		}
		if _, err := run(ctx, imagec.pull(ref, dir), nil); err != nil {
			return err
		}
		b.reg.ResetRequests()
		var ss []sample
		for range b.cfg.runs * 4 {
			s, err := run(ctx, imagec.pull(ref, dir), nil)
			if err != nil {
				return err
			}
			ss = append(ss, s)
		}
		note := fmt.Sprintf("%d blob requests during %d warm pulls", b.reg.BlobGets(), len(ss))
		b.report.add("warm", fx.name, map[string][]sample{"imagec": ss}, map[string][]string{"imagec": imagec.pull(ref, "DIR")})
		b.report.notes = append(b.report.notes, "warm "+fx.name+": "+note)
		os.RemoveAll(dir)
	}
	return nil
}

// resume kills an imagec pull of the large image once half of its largest
// layer is on disk, then times the pull that finishes the job.
func (b *bencher) resume(ctx context.Context) error {
	imagec, ok := b.imagec()
	img := b.report.fixtures["bench/large"]
	if !ok || img == nil {
		return nil
	}
	var largest int64
	for _, l := range img.Layers {
		largest = max(largest, l.Size)
	}
	ref := b.ref("bench/large")
	var ss []sample
	var left []int64
	for range b.cfg.runs {
		dir, err := b.fresh("resume")
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, imagec.pull(ref, dir)[0], imagec.pull(ref, dir)[1:]...)
		if err := cmd.Start(); err != nil {
			return err
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
	poll:
		for partial(dir) < largest/2 {
			select {
			case <-done:
				break poll
			case <-time.After(5 * time.Millisecond):
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kept := partial(dir)
		s, err := run(ctx, imagec.pull(ref, dir), nil)
		if err != nil {
			return err
		}
		ss = append(ss, s)
		left = append(left, kept)
		os.RemoveAll(dir)
	}
	b.report.add("resume", "bench/large", map[string][]sample{"imagec": ss}, map[string][]string{"imagec": imagec.pull(ref, "DIR")})
	b.report.notes = append(b.report.notes, fmt.Sprintf("resume: killed with %v bytes of partial data on disk (largest layer %d bytes); the timed pull finishes from there", left, largest))
	return nil
}

// partial is how many bytes wait in the store's ingest area.
func partial(root string) int64 {
	var n int64
	ents, _ := os.ReadDir(filepath.Join(root, ".imagec", "ingest"))
	for _, e := range ents {
		if fi, err := os.Stat(filepath.Join(root, ".imagec", "ingest", e.Name(), "data")); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// extract times unpacking an image whose blobs are already in the store:
// imagec unpack against tar -xzf of the same layer blobs, one after the
// other, into an empty directory.
func (b *bencher) extract(ctx context.Context) error {
	imagec, ok := b.imagec()
	if !ok {
		return nil
	}
	for _, fx := range b.fixtures {
		img := b.report.fixtures[fx.name]
		if img == nil || img.Layers[0].MediaType == "application/vnd.oci.image.layer.v1.tar+zstd" {
			continue
		}
		ref := b.ref(fx.name)
		store, err := b.fresh("extract-store")
		if err != nil {
			return err
		}
		if _, err := run(ctx, imagec.pull(ref, store), nil); err != nil {
			return err
		}
		var blobs []string
		for _, l := range img.Layers {
			blobs = append(blobs, q(filepath.Join(store, "blobs", "sha256", l.Digest.Encoded())))
		}
		cmds := map[string]func(dir string) []string{
			"imagec": func(dir string) []string {
				return []string{imagec.version[0], "--root", store, "unpack", ref, filepath.Join(dir, "rootfs")}
			},
			"tar -xzf": func(dir string) []string {
				return sh("mkdir " + q(filepath.Join(dir, "rootfs")) + " && for b in " + strings.Join(blobs, " ") + "; do tar -xzf \"$b\" -C " + q(filepath.Join(dir, "rootfs")) + " || exit 1; done")
			},
		}
		samples := map[string][]sample{}
		order := []string{"imagec", "tar -xzf"}
		for i := range b.cfg.runs {
			for k := range order {
				name := order[(i+k)%2]
				dir, err := b.fresh("extract")
				if err != nil {
					return err
				}
				settle()
				s, err := run(ctx, cmds[name](dir), nil)
				os.RemoveAll(dir)
				if err != nil {
					b.report.failures = append(b.report.failures, fmt.Sprintf("extract %s %s: %v", fx.name, name, err))
					continue
				}
				samples[name] = append(samples[name], s)
				logf("extract %s %s run %d: %.3fs", fx.name, name, i+1, s.wall.Seconds())
			}
		}
		b.report.add("extract", fx.name, samples, map[string][]string{"imagec": cmds["imagec"]("DIR"), "tar -xzf": cmds["tar -xzf"]("DIR")})
		os.RemoveAll(store)
	}
	return nil
}

// settle writes back what earlier runs left dirty, untimed, so that no run
// pays for another's writeback (imagec's own syncfs would otherwise flush the
// previous tool's data too).
func settle() { _ = exec.Command("sync").Run() }
