package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// containerd is measured through ctr against a daemon started afresh for
// every run, with its own root, state, socket and configuration file, so
// that no run sees another's content or the system's containerd (its
// config.toml, /var/lib/containerd, /opt/containerd). The daemon's peak
// memory counts as the tool's: it does the pulling and unpacking.
type daemonSpec struct {
	bin    string                  // the containerd binary
	ctr    string                  // the ctr binary of the same version
	config func(dir string) string // the configuration file for a run directory
	about  string                  // what the configuration changes, for the report
}

// containerd1 is the system's containerd (1.6 here), with its defaults:
// ctr pulls through the client-side puller and the daemon unpacks.
func containerd1() daemonSpec {
	return daemonSpec{bin: "containerd", ctr: "ctr", config: func(dir string) string {
		return "version = 2\nimports = []\n\n" +
			"[plugins.\"io.containerd.internal.v1.opt\"]\n  path = " + strconv.Quote(filepath.Join(dir, "opt")) + "\n"
	}, about: "defaults"}
}

// Transfer-service settings for containerd 2.x, as the issue tried them:
// an 8 MiB buffer per layer fetch turns on its parallel ranged fetch of one
// blob, and two layers unpack at once. max_concurrent_downloads keeps its
// default (3). The key names are `containerd config default`'s (2.4.2).
const (
	cd2FetchBuffer = 8 << 20
	cd2Unpacks     = 2
)

// containerd2 is a containerd 2.x whose binaries are in dir. Its
// configuration is version 3, which every 2.x reads (2.4 migrates it to
// its version 4 in memory, in microseconds, and warns).
func containerd2(dir string) daemonSpec {
	return daemonSpec{bin: filepath.Join(dir, "containerd"), ctr: filepath.Join(dir, "ctr"), config: func(run string) string {
		return "version = 3\nimports = []\n\n" +
			"[plugins.'io.containerd.internal.v1.opt']\n  path = " + strconv.Quote(filepath.Join(run, "opt")) + "\n\n" +
			"[plugins.'io.containerd.transfer.v1.local']\n" +
			fmt.Sprintf("  concurrent_layer_fetch_buffer = %d\n  max_concurrent_unpacks = %d\n", cd2FetchBuffer, cd2Unpacks)
	}, about: fmt.Sprintf("transfer service: concurrent_layer_fetch_buffer = %d, max_concurrent_unpacks = %d, max_concurrent_downloads at its default (3)", cd2FetchBuffer, cd2Unpacks)}
}

// findContainerd2 is the directory of a containerd 2.x and its ctr: dir if
// given, else /root/containerd2/bin (where the bench machine has it built),
// else $GOPATH/bin (where `go install` puts it). "" when there is none.
func findContainerd2(dir string) string {
	candidates := []string{dir}
	if dir == "" {
		candidates = []string{"/root/containerd2/bin"}
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
				gopath = strings.TrimSpace(string(out))
			}
		}
		for _, p := range filepath.SplitList(gopath) {
			candidates = append(candidates, filepath.Join(p, "bin"))
		}
	}
	for _, c := range candidates {
		if isContainerd2(c) {
			return c
		}
	}
	if dir != "" {
		logf("-containerd2 %s: no containerd 2.x with its ctr there; containerd2 skipped", dir)
	}
	return ""
}

// isContainerd2 says whether dir has containerd and ctr of major version 2
// (the module path github.com/containerd/containerd/v2 in --version).
func isContainerd2(dir string) bool {
	if !exists(filepath.Join(dir, "ctr")) {
		return false
	}
	out, err := exec.Command(filepath.Join(dir, "containerd"), "--version").Output()
	return err == nil && strings.Contains(string(out), "containerd/v2 ")
}

// daemon is a containerd started for one run.
type daemon struct {
	cmd *exec.Cmd
	dir string
}

// sock is the daemon's socket in a run directory.
func sock(dir string) string { return filepath.Join(dir, "sock") }

func startDaemon(spec daemonSpec, dir string) (*daemon, error) {
	cfg := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(spec.config(dir)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(gnuTime, "-f", "%M", "-o", filepath.Join(dir, "containerd.rss"), spec.bin, "--config", cfg,
		"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--address", sock(dir), "--log-level", "error")
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 400 {
		if exists(sock(dir)) {
			// The socket appears a little before the API answers.
			if exec.Command(spec.ctr, "--address", sock(dir), "version").Run() == nil {
				return &daemon{cmd: cmd, dir: dir}, nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	d := &daemon{cmd: cmd, dir: dir}
	d.stop()
	b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
	return nil, fmt.Errorf("%s did not start\n%s", spec.bin, tail(b, 2000))
}

// stop ends the daemon and returns its peak memory.
func (d *daemon) stop() int64 {
	// Signal containerd itself, the child of time(1), which then reports.
	_ = exec.Command("pkill", "-TERM", "-P", strconv.Itoa(d.cmd.Process.Pid)).Run()
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = exec.Command("pkill", "-KILL", "-P", strconv.Itoa(d.cmd.Process.Pid)).Run()
		<-done
	}
	return readRSS(filepath.Join(d.dir, "containerd.rss"))
}

// unmountUnder unmounts what a daemon left mounted under dir (overlay
// snapshots may stay mounted), deepest first, before dir is removed.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/self/mounts")
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			mounts = append(mounts, f[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = exec.Command("umount", mounts[i]).Run()
	}
}
