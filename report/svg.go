package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// series is one line of a chart.
type series struct {
	name, color string
	x, y        []float64
}

// chart is a line chart drawn as inline SVG (no script, no external font).
type chart struct {
	title, xLabel, yLabel string
	xMax, yMax            float64
	xTick                 func(float64) string
	yTick                 func(float64) string
	lines                 []series
}

const (
	chartW, chartH         = 640, 300
	padL, padR, padT, padB = 60, 20, 30, 45
	maxPoints              = 400
)

func (c chart) svg() string {
	var b strings.Builder
	iw, ih := float64(chartW-padL-padR), float64(chartH-padT-padB)
	xMax, yMax := c.xMax, c.yMax
	if xMax <= 0 {
		xMax = 1
	}
	if yMax <= 0 {
		yMax = 1
	}
	px := func(x float64) float64 { return padL + math.Min(x, xMax)/xMax*iw }
	py := func(y float64) float64 { return padT + ih - math.Min(y, yMax)/yMax*ih }
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="title">%s</text>`, padL, html.EscapeString(c.title))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" class="frame"/>`, padL, padT, iw, ih)
	for i := 0; i <= 4; i++ {
		f := float64(i) / 4
		x, y := padL+f*iw, padT+ih-f*ih
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" class="grid"/>`, x, padT, x, padT+ih)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, padL, y, padL+iw, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="tick" text-anchor="middle">%s</text>`, x, padT+ih+16, html.EscapeString(c.xTick(f*xMax)))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, padL-6, y+4, html.EscapeString(c.yTick(f*yMax)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="label" text-anchor="middle">%s</text>`, padL+iw/2, chartH-6, html.EscapeString(c.xLabel))
	fmt.Fprintf(&b, `<text x="14" y="%.1f" class="label" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>`,
		padT+ih/2, padT+ih/2, html.EscapeString(c.yLabel))
	for i, l := range c.lines {
		var pts strings.Builder
		step := max(1, len(l.x)/maxPoints)
		for j := 0; j < len(l.x); j += step {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(l.x[j]), py(l.y[j]))
		}
		if n := len(l.x); n > 0 && (n-1)%step != 0 {
			fmt.Fprintf(&pts, "%.1f,%.1f", px(l.x[n-1]), py(l.y[n-1]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`,
			l.color, strings.TrimSpace(pts.String()), html.EscapeString(l.name))
		lx := padL + 10 + i*150
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d" class="tick">%s</text>`,
			lx, padT+8, l.color, lx+16, padT+13, html.EscapeString(l.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// cdf returns the points of the empirical CDF of sorted values.
func cdf(sorted []float64) (x, y []float64) {
	n := float64(len(sorted))
	for i, v := range sorted {
		x = append(x, v)
		y = append(y, float64(i+1)/n)
	}
	return x, y
}

func ms(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

func pct(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }
