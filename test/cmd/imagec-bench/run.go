package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sample is one timed run of one command.
type sample struct {
	wall   time.Duration
	maxRSS int64 // bytes
}

// run executes argv, timing it and reading its peak resident memory (the
// largest of the process and the children it waited for).
//
// The peak comes from GNU time, which forks the command from a small
// process: the rusage this process would get from wait4 counts the memory
// of the (large) bench process the child was cloned from.
func run(ctx context.Context, argv, env []string) (sample, error) {
	rss, err := os.CreateTemp("", "imagec-bench-rss-")
	if err != nil {
		return sample{}, err
	}
	rss.Close()
	defer os.Remove(rss.Name())
	cmd := exec.CommandContext(ctx, gnuTime, append([]string{"-f", "%M", "-o", rss.Name()}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := os.CreateTemp("", "imagec-bench-out-")
	if err != nil {
		return sample{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err = cmd.Run()
	s := sample{wall: time.Since(start), maxRSS: readRSS(rss.Name())}
	if err != nil {
		b, _ := os.ReadFile(out.Name())
		return s, fmt.Errorf("%v: %w\n%s", argv, err, tail(b, 2000))
	}
	return s, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// gnuTime is GNU time(1), which reports a command's peak memory.
const gnuTime = "/usr/bin/time"

// readRSS reads the kilobytes GNU time wrote (its last line).
func readRSS(path string) int64 {
	b, _ := os.ReadFile(path)
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		return 0
	}
	kb, _ := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	return kb * 1024
}

// stats summarizes samples.
type stats struct {
	n                 int
	median, min, max  time.Duration
	medianRSS, maxRSS int64
}

func summarize(ss []sample) stats {
	if len(ss) == 0 {
		return stats{}
	}
	walls := make([]time.Duration, len(ss))
	rss := make([]int64, len(ss))
	for i, s := range ss {
		walls[i], rss[i] = s.wall, s.maxRSS
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
	return stats{n: len(ss), median: walls[len(walls)/2], min: walls[0], max: walls[len(walls)-1],
		medianRSS: rss[len(rss)/2], maxRSS: rss[len(rss)-1]}
}
