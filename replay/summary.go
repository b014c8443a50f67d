package replay

import (
	"fmt"
	"io"
	"time"
)

// PrintSummary writes a human summary of a replay to w: packets and bytes,
// the capture time covered, how long it took and at what rate, loops, and
// any error. Each extra string is printed on a line of its own after it
// (e.g. the session engine's fates).
func PrintSummary(w io.Writer, s *Summary, extra ...string) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "replay: %d packets delivered of %d read (%d skipped), %s\n",
		s.Delivered, s.Packets, s.Skipped, fmtBytes(s.Bytes))
	if s.Delivered > 0 {
		fmt.Fprintf(w, "replay: capture %s .. %s, played %s of capture time in %s",
			s.FirstTS.UTC().Format("2006-01-02 15:04:05.000"), s.LastTS.UTC().Format("15:04:05.000"),
			s.Span.Round(time.Millisecond), s.Elapsed.Round(time.Millisecond))
		if sec := s.Elapsed.Seconds(); sec > 0 {
			fmt.Fprintf(w, " (%.0f packets/s, %.2f Mbit/s)", float64(s.Delivered)/sec, float64(s.Bytes)*8/sec/1e6)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "replay: %d complete loop(s)\n", s.Loops)
	if s.Malformed > 0 {
		fmt.Fprintf(w, "replay: %d malformed packet(s) skipped; first: %v\n", s.Malformed, s.MalformedErr)
	}
	if s.Err != nil {
		fmt.Fprintf(w, "replay: stopped early: %v\n", s.Err)
	}
	for _, e := range extra {
		fmt.Fprintln(w, e)
	}
}

// fmtBytes formats a byte count with a binary unit.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
