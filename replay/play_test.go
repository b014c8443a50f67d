package replay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
	"time"
)

// want is one expected delivery: packet id and virtual time.
type want struct {
	id uint16
	at time.Duration
}

func TestPlayTiming(t *testing.T) {
	ms := time.Millisecond
	offs := capOffsets{0, 10 * ms, 25 * ms, time.Second, 1500 * ms}
	span := 1500 * ms
	even := func(p []byte) bool { return packetID(p)%2 == 0 }
	cases := []struct {
		name    string
		opts    Options
		want    []want
		skipped int
		read    int
		noSleep bool
	}{
		{name: "speed 1", opts: Options{Speed: 1},
			want: []want{{0, 0}, {1, 10 * ms}, {2, 25 * ms}, {3, time.Second}, {4, span}}, read: 5},
		{name: "speed 2 halves", opts: Options{Speed: 2},
			want: []want{{0, 0}, {1, 5 * ms}, {2, 12500 * time.Microsecond}, {3, 500 * ms}, {4, 750 * ms}}, read: 5},
		{name: "speed 0.5 doubles", opts: Options{Speed: 0.5},
			want: []want{{0, 0}, {1, 20 * ms}, {2, 50 * ms}, {3, 2 * time.Second}, {4, 3 * time.Second}}, read: 5},
		{name: "speed max", opts: Options{Speed: 0}, noSleep: true,
			want: []want{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}}, read: 5},
		{name: "speed +Inf", opts: Options{Speed: math.Inf(1)}, noSleep: true,
			want: []want{{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}}, read: 5},
		{name: "max gap", opts: Options{Speed: 1, MaxGap: 100 * ms},
			want: []want{{0, 0}, {1, 10 * ms}, {2, 25 * ms}, {3, 125 * ms}, {4, 225 * ms}}, read: 5},
		{name: "loops 3", opts: Options{Speed: 1, Loops: 3},
			want: []want{
				{0, 0}, {1, 10 * ms}, {2, 25 * ms}, {3, time.Second}, {4, span},
				{0, span + loopGap}, {1, span + loopGap + 10*ms}, {2, span + loopGap + 25*ms}, {3, span + loopGap + time.Second}, {4, 2*span + loopGap},
				{0, 2 * (span + loopGap)}, {1, 2*(span+loopGap) + 10*ms}, {2, 2*(span+loopGap) + 25*ms}, {3, 2*(span+loopGap) + time.Second}, {4, 3*span + 2*loopGap},
			}, read: 15},
		{name: "window from", opts: Options{Speed: 1, From: 20 * ms},
			want: []want{{2, 0}, {3, 975 * ms}, {4, 1475 * ms}}, skipped: 2, read: 5},
		{name: "window from to", opts: Options{Speed: 1, From: 5 * ms, To: 1200 * ms},
			want: []want{{1, 0}, {2, 15 * ms}, {3, 990 * ms}}, skipped: 2, read: 5},
		{name: "window to only", opts: Options{Speed: 1, To: 25 * ms},
			want: []want{{0, 0}, {1, 10 * ms}}, skipped: 1, read: 3},
		{name: "filter", opts: Options{Speed: 1, Filter: even},
			want: []want{{0, 0}, {2, 25 * ms}, {4, span}}, skipped: 2, read: 5},
	}
	for _, f := range formats {
		for _, c := range cases {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				path := writeTemp(t, "c.pcap", f.encode(t, offs))
				clk := newFakeClock()
				start := clk.now
				opts := c.opts
				opts.Now, opts.Sleep = clk.Now, clk.Sleep
				var got []delivery
				sum, err := Play(context.Background(), path, opts, func(p []byte, ts time.Time) {
					got = append(got, delivery{id: packetID(p), ts: ts, at: clk.now, n: len(p)})
				})
				if err != nil {
					t.Fatalf("Play: %v", err)
				}
				if len(got) != len(c.want) {
					t.Fatalf("%d packets delivered, want %d: %+v", len(got), len(c.want), got)
				}
				for i, w := range c.want {
					g := got[i]
					if g.id != w.id || g.ts != start.Add(w.at) {
						t.Errorf("delivery %d: packet %d at +%v, want packet %d at +%v", i, g.id, g.ts.Sub(start), w.id, w.at)
					}
					if g.at != g.ts {
						t.Errorf("delivery %d: handler called at +%v, stamped +%v", i, g.at.Sub(start), g.ts.Sub(start))
					}
					if g.n != 40 {
						t.Errorf("delivery %d: %d bytes, want the 40-byte IP packet", i, g.n)
					}
				}
				if c.noSleep && clk.naps != 0 {
					t.Errorf("slept %d times (%v) at maximum speed", clk.naps, clk.slept)
				}
				last := c.want[len(c.want)-1].at
				if !c.noSleep && clk.slept != last {
					t.Errorf("slept %v in all, want %v", clk.slept, last)
				}
				if sum.Delivered != len(c.want) || sum.Skipped != c.skipped || sum.Packets != c.read || sum.Bytes != int64(40*len(c.want)) {
					t.Errorf("summary %+v; want %d delivered, %d skipped, %d read", sum, len(c.want), c.skipped, c.read)
				}
				loops := max(c.opts.Loops, 1)
				if sum.Loops != loops || sum.Err != nil || sum.Elapsed != clk.slept {
					t.Errorf("summary loops %d err %v elapsed %v; want %d, nil, %v", sum.Loops, sum.Err, sum.Elapsed, loops, clk.slept)
				}
				if first := t0.Add(offs[c.want[0].id]); !sum.FirstTS.Equal(first) {
					t.Errorf("FirstTS %v, want %v", sum.FirstTS, first)
				}
				if lastTS := t0.Add(offs[c.want[len(c.want)-1].id]); !sum.LastTS.Equal(lastTS) {
					t.Errorf("LastTS %v, want %v", sum.LastTS, lastTS)
				}
			})
		}
	}
}

// TestPlayLoopsIncreasing checks that every loop's timestamps come after the
// previous loop's, at maximum speed too (where they are wall-clock times).
func TestPlayLoopsIncreasing(t *testing.T) {
	path := writeTemp(t, "c.pcap", pcapRaw(t, capOffsets{0, time.Millisecond, 2 * time.Millisecond}))
	for _, speed := range []float64{1, 3, 0} {
		clk := newFakeClock()
		var prev time.Time
		n := 0
		tick := func() time.Time { clk.now = clk.now.Add(time.Microsecond); return clk.now }
		_, err := Play(context.Background(), path, Options{Speed: speed, Loops: 3, Now: tick, Sleep: clk.Sleep}, func(p []byte, ts time.Time) {
			if n > 0 && !ts.After(prev) {
				t.Errorf("speed %v: packet %d stamped %v, not after %v", speed, n, ts, prev)
			}
			prev = ts
			n++
		})
		if err != nil || n != 9 {
			t.Fatalf("speed %v: %d packets, err %v", speed, n, err)
		}
	}
}

// TestPlayOutOfOrder checks that a capture time earlier than its
// predecessor does not make the schedule run backwards.
func TestPlayOutOfOrder(t *testing.T) {
	ms := time.Millisecond
	path := writeTemp(t, "c.pcap", pcapRaw(t, capOffsets{0, 50 * ms, 40 * ms, 60 * ms}))
	clk := newFakeClock()
	start := clk.now
	var got []time.Duration
	_, err := Play(context.Background(), path, Options{Speed: 1, Now: clk.Now, Sleep: clk.Sleep}, func(p []byte, ts time.Time) {
		got = append(got, ts.Sub(start))
	})
	want := []time.Duration{0, 50 * ms, 50 * ms, 60 * ms}
	if err != nil || len(got) != len(want) {
		t.Fatalf("got %v, err %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestPlayRealClock replays 1 s of capture in real time: the replay must
// take 0.9 to 1.1 times the capture span.
func TestPlayRealClock(t *testing.T) {
	const n = 101
	offs := make(capOffsets, n)
	for i := range offs {
		offs[i] = time.Duration(i) * 10 * time.Millisecond
	}
	span := offs[n-1]
	path := writeTemp(t, "c.pcap", pcapRaw(t, offs))
	var worst time.Duration
	begin := time.Now()
	sum, err := Play(context.Background(), path, Options{Speed: 1}, func(p []byte, ts time.Time) {
		if late := time.Since(ts); late > worst {
			worst = late
		}
	})
	total := time.Since(begin)
	if err != nil || sum.Delivered != n {
		t.Fatalf("delivered %d, err %v", sum.Delivered, err)
	}
	if total < span*9/10 || total > span*11/10 {
		t.Fatalf("replay of a %v capture took %v: outside 0.9..1.1×", span, total)
	}
	t.Logf("span %v, replay %v (player elapsed %v), worst lateness %v", span, total, sum.Elapsed, worst)

	// Twice as fast: half the span, same tolerance.
	begin = time.Now()
	if _, err := Play(context.Background(), path, Options{Speed: 2}, func([]byte, time.Time) {}); err != nil {
		t.Fatal(err)
	}
	if total := time.Since(begin); total < span*9/20 || total > span*11/20 {
		t.Fatalf("speed 2 replay of a %v capture took %v: outside 0.9..1.1× of half", span, total)
	}
}

func TestPlayCancel(t *testing.T) {
	// Two packets an hour apart: the player sleeps after the first.
	path := writeTemp(t, "c.pcap", pcapRaw(t, capOffsets{0, time.Hour}))
	for _, injected := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		opts := Options{Speed: 1}
		if injected {
			opts.Sleep = time.Sleep // not interruptible: Play naps in pieces
		}
		n := 0
		time.AfterFunc(50*time.Millisecond, cancel)
		begin := time.Now()
		sum, err := Play(ctx, path, opts, func([]byte, time.Time) { n++ })
		took := time.Since(begin)
		cancel()
		if !errors.Is(err, context.Canceled) || n != 1 || sum.Delivered != 1 || sum.Err != nil {
			t.Fatalf("injected sleep %v: err %v, %d delivered, summary err %v", injected, err, n, sum.Err)
		}
		if took > 50*time.Millisecond+maxNap+200*time.Millisecond {
			t.Fatalf("injected sleep %v: cancel took effect after %v", injected, took)
		}
	}
	// At maximum speed through a long file, the context is checked too.
	offs := make(capOffsets, 10000)
	path = writeTemp(t, "c.pcap", pcapRaw(t, offs))
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := Play(ctx, path, Options{Loops: 1000}, func([]byte, time.Time) {
		if n++; n == 1000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || n > 1000+ctxEvery {
		t.Fatalf("max speed: err %v after %d packets", err, n)
	}
}

func TestPlayOptionErrors(t *testing.T) {
	path := writeTemp(t, "c.pcap", pcapRaw(t, capOffsets{0}))
	for _, o := range []Options{
		{Speed: -1}, {Speed: math.NaN()}, {Loops: -2}, {From: time.Second, To: time.Second},
		{From: -time.Second}, {MaxGap: -1}, {Bar: 7},
	} {
		n := 0
		sum, err := Play(context.Background(), path, o, func([]byte, time.Time) { n++ })
		if !errors.Is(err, errOptions) || sum == nil || n != 0 {
			t.Errorf("options %+v: err %v, %d delivered", o, err, n)
		}
	}
	sum, err := Play(context.Background(), path+".missing", Options{}, func([]byte, time.Time) {})
	if err == nil || sum.Err != err || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err %v, summary err %v", err, sum.Err)
	}
}

// TestPlayGzipSame checks that a gzip-compressed file replays exactly the
// packets and times of the plain one.
func TestPlayGzipSame(t *testing.T) {
	offs := capOffsets{0, 3 * time.Millisecond, 7 * time.Millisecond, 2 * time.Second}
	for _, enc := range formats[:2] {
		plain := enc.encode(t, offs)
		var runs [2][]string
		for i, b := range [][]byte{plain, gzipped(t, plain)} {
			clk := newFakeClock()
			path := writeTemp(t, "c.pcap", b)
			sum, err := Play(context.Background(), path, Options{Speed: 1, Now: clk.Now, Sleep: clk.Sleep}, func(p []byte, ts time.Time) {
				runs[i] = append(runs[i], fmt.Sprintf("%x@%v", p, ts.Sub(newFakeClock().now)))
			})
			if err != nil || sum.Delivered != len(offs) {
				t.Fatalf("%s run %d: %d delivered, err %v", enc.name, i, sum.Delivered, err)
			}
		}
		if fmt.Sprint(runs[0]) != fmt.Sprint(runs[1]) {
			t.Fatalf("%s: gzip replay differs:\n%v\n%v", enc.name, runs[0], runs[1])
		}
	}
}

// TestPlayOnLoop checks that OnLoop announces every loop before its
// packets.
func TestPlayOnLoop(t *testing.T) {
	path := writeTemp(t, "c.pcap", pcapRaw(t, capOffsets{0, time.Millisecond, 2 * time.Millisecond}))
	for _, loops := range []int{1, 3} {
		var got []int
		loop := -1
		opts := Options{Loops: loops, OnLoop: func(l int) { loop = l; got = append(got, l) }}
		_, err := Play(context.Background(), path, opts, func([]byte, time.Time) { got = append(got, 100+loop) })
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for l := range loops {
			want = append(want, l, 100+l, 100+l, 100+l)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%d loops: events %v, want %v", loops, got, want)
		}
	}
}
