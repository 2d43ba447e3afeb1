package main

import (
	"fmt"
	"strings"
)

// Targets of the store-scale workload (issue 10), stated as the issue
// states them.
const (
	scalePullTarget   = 2.0 // warm re-pull with the most names / with one
	scaleImagesTarget = 0.5 // seconds for `imagec images` with the most names
)

// scaleSection writes the store-scale table and the two numbers its
// targets are about.
func (r *report) scaleSection(b *strings.Builder) {
	if len(r.scale) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Store scale: one image under many names\n\nLink: %s; stores on %s. Absolute times here, as the targets are stated so.\n\n"+
		"| names | index.json | warm re-pull median | min | max | peak RSS | `imagec images` median | min | max | peak RSS | `imagec tag` median | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n", r.link(), r.fs)
	for _, s := range r.scale {
		fmt.Fprintf(b, "| %d | %.1f KB | %s | %s | %s | %.1f MiB | %s | %s | %s | %.1f MiB | %s | %.1f MiB |\n", s.names, float64(s.indexBytes)/1e3,
			dur(s.pull.median), dur(s.pull.min), dur(s.pull.max), float64(s.pull.medianRSS)/(1<<20),
			dur(s.images.median), dur(s.images.min), dur(s.images.max), float64(s.images.medianRSS)/(1<<20),
			dur(s.tag.median), float64(s.tag.medianRSS)/(1<<20))
	}
	one, most := r.scale[0], r.scale[len(r.scale)-1]
	if one.pull.median > 0 {
		ratio := most.pull.median.Seconds() / one.pull.median.Seconds()
		fmt.Fprintf(b, "\n- Warm re-pull with %d names / with %d: **%.2f** (target ≤ %g: %s).\n", most.names, one.names, ratio, scalePullTarget, met(ratio <= scalePullTarget))
	}
	secs := most.images.median.Seconds()
	fmt.Fprintf(b, "- `imagec images` with %d names: **%s** (target ≤ %g s at 10,000 names: %s).\n", most.names, dur(most.images.median), scaleImagesTarget, met(secs <= scaleImagesTarget))
	if most.names < 10000 {
		b.WriteString("- Scaled run: the targets are for 10,000 names (scale 1).\n")
	}
	b.WriteString("\nThe other names are written untimed, all at once, beside the one the pull recorded (tags in 50 repositories of another registry, naming the same image). A warm re-pull asks the registry with one HEAD whether the tag moved and, finding it where the store's name points, writes nothing; `imagec tag` of the image to its own name rewrites index.json, so the tag column is what one change to the names costs (a process that finds the image and rewrites the file).\n\nCommands:\n\n")
	for _, c := range r.scaleCommands {
		fmt.Fprintf(b, "- `%s`\n", strings.Join(c, " "))
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}
