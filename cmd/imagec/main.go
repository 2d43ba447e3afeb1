// Command imagec pulls container images from Docker and OCI registries into
// a local OCI image layout. It is a thin shell over the imagec library.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// IMAGEC_CPUPROFILE=FILE writes a pprof CPU profile of the command,
	// for finding where a pull or an unpack spends its time.
	if path := os.Getenv("IMAGEC_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// imagec streams everything, so its live heap is small; a soft
		// limit keeps garbage from piling up between collections. Above
		// it (a zstd layer with a large window) the GC just works harder.
		// A store of many names raises it (see memoryFor).
		debug.SetMemoryLimit(baseMemoryLimit)
	}
	err := newRootCommand().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err == nil {
		return
	}
	pprof.StopCPUProfile() // os.Exit skips deferred calls
	if interrupted || errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "imagec: interrupted; partial downloads are kept and resume on the next pull")
		os.Exit(130)
	}
	// One line, whatever a registry or an archive put in the message.
	printLine(os.Stderr, "imagec: "+err.Error())
	os.Exit(1)
}
