// Command imagec pulls container images from Docker and OCI registries into
// a local OCI image layout. It is a thin shell over the imagec library.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err == nil {
		return
	}
	if interrupted || errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "imagec: interrupted; partial downloads are kept and resume on the next pull")
		os.Exit(130)
	}
	fmt.Fprintln(os.Stderr, "imagec: "+oneLine(err.Error()))
	os.Exit(1)
}

// oneLine keeps an error to a single line whatever a server put in it.
func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
