package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the summary for a terminal: totals, latency, and the
// endpoints that differ most (top n).
func WriteText(w io.Writer, s *Summary, n int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "exchanges  %d (stored %d, dropped %d, past the disk cap %d)\n", s.Exchanges, s.Stored, s.Dropped, s.Capped)
	fmt.Fprintf(&b, "differing  %d (%s): status %d, headers %d, body %d; with noise %d\n",
		s.Differing, rate(s.Differing, s.Exchanges), s.ByKind["status"], s.ByKind["headers"], s.ByKind["body"], s.WithNoise)
	fmt.Fprintf(&b, "latency    %-8s %9s %9s %9s %9s\n", "", "p50", "p90", "p99", "errors")
	for _, r := range []struct {
		name string
		p    Percentiles
		errs int64
	}{{"online", s.LatencyMs.Online, s.Errors.Online}, {"target", s.LatencyMs.Target, s.Errors.Target}} {
		fmt.Fprintf(&b, "           %-8s %9s %9s %9s %9d\n", r.name, ms(r.p.P50), ms(r.p.P90), ms(r.p.P99), r.errs)
	}
	if len(s.Endpoints) > 0 {
		fmt.Fprintf(&b, "\n%-40s %9s %9s %11s %11s\n", "endpoint (most differing first)", "exchanges", "differing", "online p50", "target p50")
		for _, e := range s.Endpoints[:min(n, len(s.Endpoints))] {
			fmt.Fprintf(&b, "%-40s %9d %9d %11s %11s\n", e.Key, e.Exchanges, e.Differing, ms(e.OnlineP50Ms), ms(e.TargetP50Ms))
		}
	}
	if len(s.Fields) > 0 {
		b.WriteString("\nfields that differ most\n")
	}
	for _, f := range s.Fields[:min(n, len(s.Fields))] {
		fmt.Fprintf(&b, "  %-50s %d\n", f.Field, f.Count)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
