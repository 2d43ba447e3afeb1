package progress

import (
	"fmt"
	"strings"
)

var decimalUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}

// HumanSize formats n bytes the way docker does (go-units HumanSize):
// 1000-based units and at most 4 significant digits, so the JSON stream is
// byte-for-byte what the Engine API sends: 512 -> "512B", 1234 -> "1.234kB",
// 3397879 -> "3.398MB".
func HumanSize(n int64) string {
	size := float64(n)
	i := 0
	for size >= 1000 && i < len(decimalUnits)-1 {
		size /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", size, decimalUnits[i])
}

// jsonBarWidth is the bar docker computes in the daemon, whose JSON stream
// is formatted as if for a wide terminal.
const jsonBarWidth = 50

// bar draws "[====>     ]" with width cells before the arrow head, as
// docker does: the arrow is always present, even at 0% and 100%.
func bar(current, total int64, width int) string {
	n := 0
	if total > 0 && current > 0 {
		n = int(float64(current) / float64(total) * float64(width))
	}
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n) + "]"
}

// counts is docker's numbers box: current padded to 8 columns, then the
// total unless it is unknown or already exceeded (a wrong Content-Length).
func counts(current, total int64) string {
	if total <= 0 || current > total {
		return fmt.Sprintf("%8s", HumanSize(current))
	}
	return fmt.Sprintf("%8s/%s", HumanSize(current), HumanSize(total))
}

// dockerProgress is the "progress" string of a JSON message, identical to
// what docker's daemon computes for a transfer; "" when nothing is known.
func dockerProgress(current, total int64) string {
	if current <= 0 && total <= 0 {
		return ""
	}
	if total <= 0 {
		return counts(current, total)
	}
	return bar(current, total, jsonBarWidth) + " " + counts(current, total)
}
