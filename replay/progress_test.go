package replay

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProgressDisplay(t *testing.T) {
	// 2 s of capture, a packet every millisecond.
	offs := make(capOffsets, 2001)
	for i := range offs {
		offs[i] = time.Duration(i) * time.Millisecond
	}
	path := writeTemp(t, "c.pcap", pcapRaw(t, offs))
	long := make(capOffsets, 121) // 12 s, a packet every 100 ms
	for i := range long {
		long[i] = time.Duration(i) * 100 * time.Millisecond
	}
	longPath := writeTemp(t, "long.pcap", pcapRaw(t, long))

	cases := []struct {
		name     string
		path     string
		opts     Options
		minDraws int
		maxDraws int
		tty      bool
		tick     bool // the clock moves 1 ms at every reading
	}{
		{name: "bar max speed", path: path, opts: Options{Bar: BarAlways}, minDraws: 15, maxDraws: 23, tty: true, tick: true},
		// 10 redraws a second at most, plus the first and the final one.
		{name: "bar speed 1", path: path, opts: Options{Speed: 1, Bar: BarAlways}, minDraws: 15, maxDraws: 22, tty: true},
		{name: "bar speed 2", path: path, opts: Options{Speed: 2, Bar: BarAlways}, minDraws: 8, maxDraws: 12, tty: true},
		{name: "bar loops 2", path: path, opts: Options{Speed: 1, Loops: 2, Bar: BarAlways}, minDraws: 35, maxDraws: 42, tty: true},
		{name: "lines every 5 s", path: longPath, opts: Options{Speed: 1, Bar: BarLines}, minDraws: 2, maxDraws: 2},
		{name: "auto on a buffer is lines", path: longPath, opts: Options{Speed: 1}, minDraws: 2, maxDraws: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			clk := newFakeClock()
			n := 0
			opts := c.opts
			opts.Now, opts.Sleep, opts.Progress = clk.Now, clk.Sleep, &out
			if c.tick {
				opts.Now = func() time.Time { clk.now = clk.now.Add(time.Millisecond); return clk.now }
			}
			opts.Live = func() string { return fmt.Sprintf("replayed %d", n) }
			if _, err := Play(context.Background(), c.path, opts, func([]byte, time.Time) { n++ }); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			var draws []string
			if c.tty {
				if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
					t.Fatalf("bar output does not end with its only newline: %q", s)
				}
				draws = strings.Split(strings.TrimSuffix(s, "\n"), "\r")[1:]
			} else {
				if strings.Contains(s, "\r") {
					t.Fatalf("plain output has carriage returns: %q", s)
				}
				draws = strings.Split(strings.TrimSuffix(s, "\n"), "\n")
			}
			if len(draws) < c.minDraws || len(draws) > c.maxDraws {
				t.Fatalf("%d draws, want %d..%d:\n%s", len(draws), c.minDraws, c.maxDraws, strings.Join(draws, "\n"))
			}
			prev := -1
			for _, d := range draws {
				var pct int
				i := strings.Index(d, "] ")
				if !strings.HasPrefix(d, "[") || i != barWidth+1 {
					t.Fatalf("draw %q is not a bar", d)
				}
				if _, err := fmt.Sscanf(strings.TrimSpace(d[i+2:]), "%d%%", &pct); err != nil || pct < prev || pct > 100 {
					t.Fatalf("draw %q: percentage %d after %d (%v)", d, pct, prev, err)
				}
				prev = pct
				if !strings.Contains(d, " ETA ") || !strings.Contains(d, "  replayed ") {
					t.Fatalf("draw %q lacks the ETA or the live text", d)
				}
			}
			if c.tty {
				last := draws[len(draws)-1]
				if !strings.HasPrefix(last, "[==============================] 100% ") || !strings.Contains(last, "ETA 0.0s") {
					t.Fatalf("final draw %q", last)
				}
				if !strings.HasPrefix(draws[0], "[>") || !strings.Contains(draws[0], "  0% 0.0s/") {
					t.Fatalf("first draw %q", draws[0])
				}
			}
			t.Logf("%d draws, e.g. %q", len(draws), draws[len(draws)/2])
		})
	}
}

func TestProgressEstimate(t *testing.T) {
	s := time.Second
	cases := []struct {
		name      string
		pr        progress
		elapsed   time.Duration
		pos       time.Duration
		done      int
		wantFrac  float64
		wantETA   time.Duration
		wantDrawn string
	}{
		{name: "speed 1", pr: progress{speed: 1, totalV: 10 * s}, elapsed: 4 * s, pos: 3 * s,
			wantFrac: 0.4, wantETA: 6 * s, wantDrawn: "[============>                 ]  40% 4.0s/10.0s ETA 6.0s"},
		{name: "speed 2 behind", pr: progress{speed: 2, totalV: 10 * s}, elapsed: 1 * s, pos: 5 * s,
			wantFrac: 0.5, wantETA: 2500 * time.Millisecond, wantDrawn: "[===============>              ]  50% 1.0s/3.5s ETA 2.5s"},
		{name: "speed 1 past the end", pr: progress{speed: 1, totalV: 10 * s}, elapsed: 12 * s, pos: 10 * s,
			wantFrac: 1, wantETA: 0, wantDrawn: "[==============================] 100% 12.0s/12.0s ETA 0.0s"},
		{name: "max by packets", pr: progress{speed: 0, totalPkts: 100}, elapsed: s, done: 25,
			wantFrac: 0.25, wantETA: 3 * s, wantDrawn: "[=======>                      ]  25% 1.0s/4.0s ETA 3.0s"},
		{name: "max nothing yet", pr: progress{speed: 0, totalPkts: 100}, elapsed: s,
			wantFrac: 0, wantETA: 0, wantDrawn: "[>                             ]   0% 1.0s/1.0s ETA 0.0s"},
		{name: "long", pr: progress{speed: 1, totalV: 3 * time.Hour}, elapsed: 30 * time.Minute,
			wantFrac: 1.0 / 6, wantETA: 150 * time.Minute, wantDrawn: "[=====>                        ]  16% 30m00s/3h00m00s ETA 2h30m00s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frac, eta := c.pr.estimate(c.elapsed, c.pos, c.done)
			if d := frac - c.wantFrac; d > 1e-9 || d < -1e-9 || eta != c.wantETA {
				t.Fatalf("estimate %.3f ETA %v, want %.3f and %v", frac, eta, c.wantFrac, c.wantETA)
			}
			var out bytes.Buffer
			pr := c.pr
			pr.w, pr.start = &out, time.Unix(0, 0)
			pr.draw(pr.start.Add(c.elapsed), c.pos, c.done, false)
			if got := strings.TrimSuffix(out.String(), "\n"); got != c.wantDrawn {
				t.Fatalf("drawn %q\nwant  %q", got, c.wantDrawn)
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(t.TempDir() + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(&bytes.Buffer{}) || isTerminal(f) {
		t.Fatal("a buffer or a regular file taken for a terminal")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if !isTerminal(ptmx) {
		t.Fatal("a pseudo-terminal not taken for a terminal")
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                          "0.0s",
		0:                                     "0.0s",
		1234 * time.Millisecond:               "1.2s",
		59*time.Second + 940*time.Millisecond: "59.9s",
		61 * time.Second:                      "1m01s",
		3*time.Hour + 4*time.Minute + 5*time.Second: "3h04m05s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}
