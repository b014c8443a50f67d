package report

import (
	"fmt"
	"html"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/store"
)

// HTMLOptions shape the page.
type HTMLOptions struct {
	Title     string // default "replaygw comparison"
	TopN      int    // rows of the endpoint tables; default 15
	Generated time.Time
}

const style = `body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
.chart .frame{fill:#fff;stroke:#999}.chart .grid{stroke:#eee}.chart .tick{font-size:11px}
.chart .label{font-size:12px}.chart .title{font-size:14px;font-weight:bold}
.pair{display:flex;gap:1em}.pair pre{flex:1;background:#f7f7f7;padding:.5em;overflow:auto;max-height:30em;white-space:pre-wrap;word-break:break-all}
mark{background:#ffb3b3}.ex{border-top:1px solid #ccc;margin-top:1.5em}`

// WriteHTML writes one self-contained page: no script, no external file.
func WriteHTML(w io.Writer, s *Summary, o HTMLOptions) error {
	if o.Title == "" {
		o.Title = "replaygw comparison"
	}
	if o.TopN <= 0 {
		o.TopN = 15
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style></head><body>\n",
		html.EscapeString(o.Title), style)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString(o.Title))
	if !o.Generated.IsZero() {
		fmt.Fprintf(&b, "<p>Generated %s.</p>\n", o.Generated.UTC().Format(time.RFC3339))
	}
	writeTotals(&b, s)
	writeCharts(&b, s)
	writeEndpoints(&b, s, o.TopN)
	writeFields(&b, "Fields that differ most", s.Fields, o.TopN)
	writeFields(&b, "Noise (also differs between production and a second target)", s.Noise, o.TopN)
	writeExamples(&b, s.Examples)
	b.WriteString("</body></html>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func rate(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(of))
}

func writeTotals(b *strings.Builder, s *Summary) {
	b.WriteString("<h2>Totals</h2>\n<table><tr><th>exchanges</th><th>differing</th><th>status</th><th>headers</th><th>body</th><th>with noise</th><th>dropped</th><th>capped</th><th>stored</th></tr>\n")
	fmt.Fprintf(b, "<tr><td>%d</td><td>%d (%s)</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td></tr></table>\n",
		s.Exchanges, s.Differing, rate(s.Differing, s.Exchanges), s.ByKind["status"], s.ByKind["headers"], s.ByKind["body"],
		s.WithNoise, s.Dropped, s.Capped, s.Stored)
	b.WriteString("<table><tr><th>latency</th><th>p50</th><th>p90</th><th>p99</th><th>errors</th></tr>\n")
	for _, r := range []struct {
		name string
		p    Percentiles
		errs int64
	}{{"online", s.LatencyMs.Online, s.Errors.Online}, {"target", s.LatencyMs.Target, s.Errors.Target}} {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d (%s)</td></tr>\n",
			r.name, ms(r.p.P50), ms(r.p.P90), ms(r.p.P99), r.errs, rate(r.errs, s.Stored))
	}
	b.WriteString("</table>\n")
}

func writeCharts(b *strings.Builder, s *Summary) {
	b.WriteString("<h2>Latency</h2>\n")
	ox, oy := cdf(s.online)
	tx, ty := cdf(s.target)
	xMax := 1.1 * max(rank(s.online, 0.99), rank(s.target, 0.99))
	b.WriteString(chart{title: "Latency CDF (to p99)", xLabel: "latency", yLabel: "fraction of exchanges",
		xMax: xMax, yMax: 1, xTick: ms, yTick: pct,
		lines: []series{{"online", "#1f77b4", ox, oy}, {"target", "#d62728", tx, ty}}}.svg())
	b.WriteString("\n<h2>Over time</h2>\n")
	var xs, diff, onErr, tgErr []float64
	yMax := 0.0
	for i, bk := range s.Timeline {
		xs = append(xs, float64(i)*s.BucketSec)
		n := float64(max(bk.Exchanges, 1))
		d, oe, te := float64(bk.Differing)/n, float64(bk.OnlineErrors)/n, float64(bk.TargetErrors)/n
		diff, onErr, tgErr = append(diff, d), append(onErr, oe), append(tgErr, te)
		yMax = max(yMax, d, oe, te)
	}
	xMax = float64(max(len(s.Timeline)-1, 1)) * s.BucketSec
	b.WriteString(chart{title: "Diff rate and error rate", xLabel: "seconds since the first exchange", yLabel: "rate",
		xMax: xMax, yMax: max(yMax*1.1, 0.01), xTick: func(v float64) string { return fmt.Sprintf("%.0fs", v) }, yTick: pct,
		lines: []series{{"differing", "#9467bd", xs, diff}, {"online errors", "#1f77b4", xs, onErr}, {"target errors", "#d62728", xs, tgErr}}}.svg())
	b.WriteString("\n")
}

func writeEndpoints(b *strings.Builder, s *Summary, n int) {
	table := func(title string, eps []Endpoint) {
		fmt.Fprintf(b, "<h2>%s</h2>\n<table><tr><th>endpoint</th><th>exchanges</th><th>differing</th><th>rate</th><th>online p50</th><th>target p50</th><th>slowdown</th><th>target errors</th></tr>\n", html.EscapeString(title))
		for _, e := range eps[:min(n, len(eps))] {
			fmt.Fprintf(b, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%+.1f ms</td><td>%d</td></tr>\n",
				html.EscapeString(e.Key), e.Exchanges, e.Differing, rate(e.Differing, e.Exchanges),
				ms(e.OnlineP50Ms), ms(e.TargetP50Ms), e.SlowdownMs(), e.TargetErrs)
		}
		b.WriteString("</table>\n")
	}
	byDiff := append([]Endpoint(nil), s.Endpoints...)
	sort.SliceStable(byDiff, func(i, j int) bool {
		return float64(byDiff[i].Differing)/float64(byDiff[i].Exchanges) > float64(byDiff[j].Differing)/float64(byDiff[j].Exchanges)
	})
	table("Endpoints that differ most", byDiff)
	bySlow := append([]Endpoint(nil), s.Endpoints...)
	sort.SliceStable(bySlow, func(i, j int) bool { return bySlow[i].SlowdownMs() > bySlow[j].SlowdownMs() })
	table("Endpoints that slowed most", bySlow)
}

func writeFields(b *strings.Builder, title string, fs []FieldCount, n int) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(b, "<h2>%s</h2>\n<table><tr><th>field</th><th>exchanges</th></tr>\n", html.EscapeString(title))
	for _, f := range fs[:min(n, len(fs))] {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%d</td></tr>\n", html.EscapeString(f.Field), f.Count)
	}
	b.WriteString("</table>\n")
}

func writeExamples(b *strings.Builder, exs []store.Example) {
	if len(exs) == 0 {
		return
	}
	b.WriteString("<h2>Examples</h2>\n")
	for _, e := range exs {
		fmt.Fprintf(b, "<div class=\"ex\"><h3>%s &mdash; session %s, request %d</h3>\n<p>%s: %s</p>\n",
			html.EscapeString(e.Endpoint), html.EscapeString(e.Session), e.Request,
			html.EscapeString(e.Kinds.String()), html.EscapeString(e.Desc))
		on, tg := highlight(e.Online, e.Target)
		fmt.Fprintf(b, "<div class=\"pair\"><pre class=\"payload\" title=\"online\">%s</pre><pre class=\"payload\" title=\"target\">%s</pre></div></div>\n", on, tg)
	}
}

// highlight renders both payloads, escaped, with the bytes between their
// common prefix and common suffix marked.
func highlight(a, b []byte) (string, string) {
	p := compare.FirstDifference(a, b)
	if p < 0 {
		return printable(a), printable(b)
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	mark := func(x []byte) string {
		return printable(x[:p]) + "<mark>" + printable(x[p:len(x)-s]) + "</mark>" + printable(x[len(x)-s:])
	}
	return mark(a), mark(b)
}

// printable escapes x for HTML; bytes that are not text show as \xNN.
func printable(x []byte) string {
	var b strings.Builder
	for len(x) > 0 {
		r, n := utf8.DecodeRune(x)
		switch {
		case r == '\r' && len(x) > 1 && x[1] == '\n': // CRLF shows as a line end
		case r == utf8.RuneError && n <= 1, r < 0x20 && r != '\n' && r != '\t', r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, x[0])
			n = 1
		default:
			b.WriteString(html.EscapeString(string(r)))
		}
		x = x[n:]
	}
	return b.String()
}
