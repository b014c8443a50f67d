package lab

import (
	"fmt"
	"io"
	"time"
)

// demoTable prints the demo's live table, one row per second.
type demoTable struct {
	w io.Writer
}

func (t demoTable) header() {
	fmt.Fprintf(t.w, "%6s %8s %8s %8s  %-19s %-19s\n", "time", "online", "target", "success", "online p50/p99", "target p50/p99")
}

// row prints cumulative request counts and the latency percentiles of the
// last interval (server handler time on each side).
func (t demoTable) row(elapsed time.Duration, online, target int, onLat, tgLat []time.Duration) {
	fmt.Fprintf(t.w, "%5.0fs %8d %8d %7.1f%%  %-19s %-19s\n", elapsed.Seconds(), online, target, Percent(target, online),
		fmtDur(Percentile(onLat, 50))+" / "+fmtDur(Percentile(onLat, 99)),
		fmtDur(Percentile(tgLat, 50))+" / "+fmtDur(Percentile(tgLat, 99)))
}

// Percent is 100*a/b, or 0 when b is 0.
func Percent(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// fmtDur prints a latency compactly: microseconds below 1ms, else ms.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}
