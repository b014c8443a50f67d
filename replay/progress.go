package replay

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	barWidth   = 30
	ttyEvery   = 100 * time.Millisecond // redraws at most 10 times a second
	linesEvery = 5 * time.Second        // one plain line every 5 s otherwise
)

// progress draws the replay's progress: a bar redrawn in place on a
// terminal, a plain line every few seconds elsewhere.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	live  func() string
	speed float64 // 0 = as fast as possible

	totalV    time.Duration // virtual time of the whole replay
	totalPkts int           // packets the whole replay delivers
	start     time.Time
	next      time.Time // earliest next draw
	drawn     bool
	buf       strings.Builder
}

func newProgress(o *Options, speed float64) *progress {
	tty := o.Bar == BarAlways || (o.Bar == BarAuto && isTerminal(o.Progress))
	pr := &progress{w: o.Progress, tty: tty, live: o.Live, speed: speed, every: linesEvery}
	if tty {
		pr.every = ttyEvery
	}
	return pr
}

// measure reads the file once, the way the replay will, to learn how many
// packets and how much virtual time one loop has. A damaged file counts up
// to the damage; the replay itself reports the error.
func (pr *progress) measure(ctx context.Context, path string, o *Options, loops int) {
	ps := newPass(o)
	_ = ps.run(ctx, path, func([]byte, time.Time, time.Duration) error { return nil })
	if !ps.started {
		return
	}
	pr.totalPkts = loops * ps.delivered
	pr.totalV = time.Duration(loops-1)*(ps.rel+loopGap) + ps.rel
}

// begin starts the clock of the display.
func (pr *progress) begin(start time.Time) {
	pr.start = start
	pr.next = start.Add(pr.every)
	if pr.tty {
		pr.next = start // draw the empty bar at once
	}
}

// tick draws when the last drawing is old enough. pos is the virtual time
// of the last delivered packet, done the packets delivered so far.
func (pr *progress) tick(now time.Time, pos time.Duration, done int) {
	if now.Before(pr.next) {
		return
	}
	pr.next = now.Add(pr.every)
	pr.draw(now, pos, done, false)
}

// end draws the final state; complete says the replay ran to its end.
func (pr *progress) end(now time.Time, pos time.Duration, done int, complete bool) {
	if !pr.tty {
		return
	}
	pr.draw(now, pos, done, complete)
	io.WriteString(pr.w, "\n")
}

// draw writes one progress line.
func (pr *progress) draw(now time.Time, pos time.Duration, done int, complete bool) {
	elapsed := now.Sub(pr.start)
	frac, eta := pr.estimate(elapsed, pos, done)
	if complete {
		frac, eta = 1, 0
	}
	b := &pr.buf
	b.Reset()
	if pr.tty {
		b.WriteByte('\r')
	}
	fill := int(frac * barWidth)
	b.WriteByte('[')
	for i := 0; i < barWidth; i++ {
		switch {
		case i < fill:
			b.WriteByte('=')
		case i == fill && fill < barWidth:
			b.WriteByte('>')
		default:
			b.WriteByte(' ')
		}
	}
	fmt.Fprintf(b, "] %3d%% %s/%s ETA %s", int(frac*100), fmtDur(elapsed), fmtDur(elapsed+eta), fmtDur(eta))
	if pr.live != nil {
		if s := pr.live(); s != "" {
			b.WriteString("  ")
			b.WriteString(s)
		}
	}
	if pr.tty {
		b.WriteString("\x1b[K") // erase what a longer earlier line left
	} else {
		b.WriteByte('\n')
	}
	io.WriteString(pr.w, b.String())
	pr.drawn = true
}

// estimate returns the share of the replay done and the time still needed.
// Paced replays go by virtual time (which moves on during idle gaps too),
// replays at maximum speed by packets.
func (pr *progress) estimate(elapsed, pos time.Duration, done int) (float64, time.Duration) {
	if pr.speed > 0 && pr.totalV > 0 {
		v := time.Duration(float64(elapsed) * pr.speed)
		if v < pos {
			v = pos
		}
		if v > pr.totalV {
			v = pr.totalV
		}
		return float64(v) / float64(pr.totalV), time.Duration(float64(pr.totalV-v) / pr.speed)
	}
	if pr.totalPkts <= 0 || done <= 0 {
		return 0, 0
	}
	frac := float64(done) / float64(pr.totalPkts)
	if frac > 1 {
		frac = 1
	}
	return frac, time.Duration(float64(elapsed) * (1 - frac) / frac)
}

// fmtDur formats a duration for the progress line: 12.3s, 4m05s, 1h02m03s.
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	s := int64(d / time.Second)
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm%02ds", s/3600, s/60%60, s%60)
}
