package integration

// End-to-end tests of offline replay: record live traffic with `replaygw
// copy --record`, then replay the file with `replaygw replay` (remote
// gateway, raw sender in the online namespace) at 1× and at full speed,
// under every link type, gzip-compressed, and damaged.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// offlineRig is a lab whose gateway runs and whose copier recorded a
// capture of known requests.
type offlineRig struct {
	d       *lab.Rig
	bin     string
	rec     string       // the recording (pcapng, raw IP)
	ids     []string     // ids answered by the online server while recording
	pkts    []capPacket  // the recording's IP packets
	reqs    []capRequest // its requests with the "rec-" prefix
	capSpan time.Duration
	pools   int // /28 slices of the client pool used so far
}

// usePool writes the copier config src to dst with the next /28 of the
// lab's client pool as client_pool.
func (r *offlineRig) usePool(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	base := r.d.Lab.Pool.Addr().As4()
	if r.pools >= 1<<(28-r.d.Lab.Pool.Bits()) {
		return fmt.Errorf("client pool %s has no /28 left for run %d", r.d.Lab.Pool, r.pools+1)
	}
	base[3] += byte(16 * r.pools)
	r.pools++
	slice := netip.PrefixFrom(netip.AddrFrom4(base), 28)
	re := regexp.MustCompile(`(?m)^client_pool = .*$`)
	if !re.Match(b) {
		return fmt.Errorf("%s has no client_pool line", src)
	}
	return os.WriteFile(dst, re.ReplaceAll(b, []byte(fmt.Sprintf("client_pool = %q", slice))), 0o600)
}

// config returns a copier config for the next replay: the recording's
// config with a client pool slice of its own.
func (r *offlineRig) config(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "replay.toml")
	if err := r.usePool(r.d.CPConfig, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// newOfflineRig records 300 requests (short and keep-alive, about 3 s) and
// stops the copier. The gateway keeps running for the replays.
func newOfflineRig(t *testing.T, bin string) *offlineRig {
	var out bytes.Buffer
	d := &lab.Rig{
		Opts: lab.DemoOptions{Binary: bin, Prefix: "rgO", ReadyTimeout: 20 * time.Second, Logger: lab.Logger(t)},
		Out:  &out, Dir: t.TempDir(), Res: &lab.DemoResult{},
	}
	if err := d.Opts.Defaults(); err != nil {
		t.Fatal(err)
	}
	r := &offlineRig{d: d, bin: bin, rec: filepath.Join(d.Dir, "rec.pcapng")}
	d.CPArgs = []string{"--record", r.rec}
	closeRigAtEnd(t, d, &out, "rgO")
	if err := d.Setup(); err != nil {
		t.Fatal(err)
	}
	// Each run gets its own slice of the client pool: the live copy the
	// first /28, every replay the next one (see config). A replay's
	// sessions then never meet the target's TIME_WAIT of an earlier run on
	// the same 4-tuples, as they would not on a fresh target host.
	if err := r.usePool(d.CPConfig, d.CPConfig); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.StartChildren(ctx); err != nil {
		t.Fatal(err)
	}
	lo := lab.LoadOptions{Addr: d.Lab.Addr(lab.Online).String() + ":80", Short: 200, KeepAlive: 4, PerConn: 25,
		Rate: 100, Duration: 15 * time.Second, IDPrefix: "rec"}
	res, err := d.Lab.Load(ctx, lab.Client, lo)
	if err != nil {
		t.Fatal(err)
	}
	want := lo.Short + lo.KeepAlive*lo.PerConn
	if len(res.OK) < want*99/100 {
		t.Fatalf("online answered %d of %d while recording: %v", len(res.OK), want, res.Errors)
	}
	r.ids = res.OK
	// The live copy is not under test here, but waiting for it makes sure
	// the copier has seen (and recorded) everything before it stops.
	lab.WaitFor(t, 5*time.Second, func() bool { return d.Target.CountSeen(r.ids) == len(r.ids) })
	if err := d.CP.Stop(5 * time.Second); err != nil {
		t.Fatalf("copier did not stop cleanly: %v\n%s", err, lab.LogTail(d.CPLog.Name(), 20))
	}
	d.Target.Close()
	d.Target = nil
	if r.pkts, err = readIPCapture(r.rec); err != nil {
		t.Fatalf("read the recording: %v", err)
	}
	r.reqs = captureRequests(r.pkts, "rec-")
	if got := percentOf(len(r.reqs), len(r.ids)); got < 99.9 {
		t.Fatalf("the recording holds %d requests of %d answered online (%.2f%%)", len(r.reqs), len(r.ids), got)
	}
	r.capSpan = r.reqs[len(r.reqs)-1].ts.Sub(r.reqs[0].ts)
	t.Logf("recorded %d packets, %d requests over %v", len(r.pkts), len(r.reqs), r.capSpan.Round(time.Millisecond))
	return r
}

// replay plays file from the online namespace against a fresh target and
// returns the run and the target.
func (r *offlineRig) replay(t *testing.T, file string, args ...string) (replayRun, *arrivalTarget) {
	t.Helper()
	tg := freshTarget(t, r.d.Lab)
	run := runReplay(r.d.Lab, lab.Online, r.bin, r.config(t), file, 60*time.Second, args...)
	if run.crashed() {
		t.Fatalf("replaygw replay crashed:\n%s", run)
	}
	return run, tg
}

// wantIDs fails unless at least 99.9% of ids reached tg.
func wantIDs(t *testing.T, tg *arrivalTarget, ids []string, run replayRun) {
	t.Helper()
	// Late sessions: the replay has drained them before it exited, give
	// the target's handlers a moment.
	lab.WaitFor(t, 2*time.Second, func() bool { return tg.CountSeen(ids) == len(ids) })
	got := tg.CountSeen(ids)
	if p := percentOf(got, len(ids)); p < 99.9 {
		t.Errorf("target saw %d of %d ids (%.2f%%, want >= 99.9%%)\n%s", got, len(ids), p, run)
	}
}

// wantReplayed fails unless at least 99.9% of the sessions the replay
// started ended with fate "replayed".
func wantReplayed(t *testing.T, n replayNumbers, run replayRun) {
	t.Helper()
	if n.started == 0 || percentOf(n.replayed, n.started) < 99.9 {
		t.Errorf("%d of %d sessions replayed (want >= 99.9%%)\n%s", n.replayed, n.started, run)
	}
}

func TestOfflineReplay(t *testing.T) {
	bin := needBinary(t, "up", "copy", "replay")
	r := newOfflineRig(t, bin)

	t.Run("1x keeps the timing", func(t *testing.T) {
		run, tg := r.replay(t, r.rec)
		if run.exitCode() != 0 {
			t.Fatalf("replay failed:\n%s", run)
		}
		wantIDs(t, tg, r.ids, run)
		// Timing is judged at the target: the span between the first and
		// the last request arrival there against the span between the same
		// requests in the capture. It includes everything on the path
		// (pacing, the engine's queues, the network), and the capture's
		// 3 s make a 10% bound 300 ms: far above the scheduling noise of a
		// shared machine, far below what ignoring the timestamps gives.
		got := tg.span(r.ids)
		dev := math.Abs(got.Seconds()-r.capSpan.Seconds()) / r.capSpan.Seconds()
		n := parseReplay(run.stdout)
		t.Logf("summary:\n%s", run.stdout)
		wantReplayed(t, n, run)
		t.Logf("capture span %v, target span %v (%.1f%% off); replay summary: capture time %v played in %v",
			r.capSpan.Round(time.Millisecond), got.Round(time.Millisecond), 100*dev, n.span, n.played)
		if dev > 0.10 {
			t.Errorf("1x replay: requests arrived over %v, captured over %v (%.1f%% off, want <= 10%%)", got, r.capSpan, 100*dev)
		}
	})

	t.Run("max speed", func(t *testing.T) {
		run, tg := r.replay(t, r.rec, "--speed", "max")
		if run.exitCode() != 0 {
			t.Fatalf("replay failed:\n%s", run)
		}
		wantIDs(t, tg, r.ids, run)
		t.Logf("summary:\n%s", run.stdout)
		wantReplayed(t, parseReplay(run.stdout), run)
		// At full speed the file is not paced: the requests arrive much
		// faster than they were captured.
		if got := tg.span(r.ids); got > r.capSpan/2 {
			t.Errorf("--speed max: requests arrived over %v, captured over %v", got, r.capSpan)
		}
	})

	dir := t.TempDir()
	for _, v := range linkVariants {
		t.Run("link "+v.name, func(t *testing.T) {
			file := filepath.Join(dir, v.name+".pcap")
			if _, err := writePcap(file, v, r.pkts); err != nil {
				t.Fatal(err)
			}
			run, tg := r.replay(t, file, "--speed", "max")
			if run.exitCode() != 0 {
				t.Fatalf("replay failed:\n%s", run)
			}
			wantIDs(t, tg, r.ids, run)
		})
	}
	t.Run("gzip", func(t *testing.T) {
		file := filepath.Join(dir, "rec.pcapng.gz")
		if err := gzipFile(r.rec, file); err != nil {
			t.Fatal(err)
		}
		run, tg := r.replay(t, file, "--speed", "max")
		if run.exitCode() != 0 {
			t.Fatalf("replay failed:\n%s", run)
		}
		wantIDs(t, tg, r.ids, run)
	})

	t.Run("malformed", func(t *testing.T) { malformedCases(t, r, dir) })

	t.Run("benchmark", func(t *testing.T) {
		if os.Getenv("RGW_BENCH") != "1" {
			t.Skip("set RGW_BENCH=1 to measure offline replay throughput")
		}
		offlineBenchmark(t, r)
	})
}

// malformedCases damages a pcap copy of the recording in the ways a capture
// file breaks and checks what `replaygw replay` makes of it.
func malformedCases(t *testing.T, r *offlineRig, dir string) {
	raw := linkVariants[1]
	clean := filepath.Join(dir, "clean.pcap")
	offs, err := writePcap(clean, raw, r.pkts)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	// The damage sits at 60% of the file. Sessions that ended before it
	// must complete; the keep-alive ones span the whole capture and do not
	// count.
	k := len(r.pkts) * 6 / 10
	last := map[uint16]int{} // client port -> index of its last packet
	for i, p := range r.pkts {
		src, dst, _, ok := tcpOf(p.ip)
		if !ok {
			continue
		}
		c := src
		if src == 80 {
			c = dst
		}
		last[c] = i
	}
	var intact []string
	for _, q := range r.reqs {
		if last[q.client] < k {
			intact = append(intact, q.id)
		}
	}
	if len(intact) < 50 {
		t.Fatalf("only %d requests in sessions before packet %d", len(intact), k+1)
	}
	// Short sessions (one request) to spoil in the skippable cases.
	var victims []capRequest
	perSession := map[uint16]int{}
	for _, q := range r.reqs {
		perSession[q.client]++
	}
	for _, q := range r.reqs[len(r.reqs)/4:] {
		if perSession[q.client] == 1 && len(victims) < 5 {
			victims = append(victims, q)
		}
	}
	victimPort := map[uint16]bool{}
	for _, v := range victims {
		victimPort[v.client] = true
	}
	var others []string
	for _, id := range r.ids {
		spoiled := false
		for _, v := range victims {
			spoiled = spoiled || v.id == id
		}
		if !spoiled {
			others = append(others, id)
		}
	}
	recHdr := func(b []byte, i int) []byte { return b[offs[i] : offs[i]+16] }
	where := func(i int) string { return fmt.Sprintf("packet %d at byte %d", i+1, offs[i]) }

	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		// fatal: the file cannot be read past the damage, exit non-zero
		// naming the place; otherwise the record is skipped, exit 0.
		fatal   bool
		msg     []string // in stderr (fatal) or stdout (skipped)
		ids     []string // must reach the target
		missing []string // must not
	}{
		{
			name:   "truncated file",
			damage: func(b []byte) []byte { return b[:offs[k]+16+10] },
			fatal:  true, msg: []string{where(k), "truncated record"}, ids: intact,
		},
		{
			name: "bad magic",
			damage: func(b []byte) []byte {
				copy(b, "RGWX")
				return b
			},
			fatal: true, msg: []string{"file header at byte 0", "unknown magic"},
		},
		{
			name: "record longer than the snap length",
			damage: func(b []byte) []byte {
				h := recHdr(b, k)
				binary.LittleEndian.PutUint32(h[8:], 1<<20)
				binary.LittleEndian.PutUint32(h[12:], 1<<20)
				return b
			},
			fatal: true, msg: []string{where(k), "capture length exceeds snap length"}, ids: intact,
		},
		{
			// Records cut by the snap length (original length above the
			// captured one) lose their packet, not the file: skipped.
			name: "snaplen-cut packets",
			damage: func(b []byte) []byte {
				for i, p := range r.pkts {
					src, dst, _, ok := tcpOf(p.ip)
					if ok && (victimPort[src] || victimPort[dst]) && src != dst {
						h := recHdr(b, i)
						binary.LittleEndian.PutUint32(h[12:], binary.LittleEndian.Uint32(h[8:])+100)
					}
				}
				return b
			},
			ids: others, missing: []string{victims[0].id, victims[len(victims)-1].id},
		},
		{
			// An IPv4 total length beyond the record: the framing of the
			// file is intact, so only that packet is skipped (its request
			// is lost) and the summary names it.
			name: "packet longer than its record",
			damage: func(b []byte) []byte {
				for _, v := range victims {
					ip := b[offs[v.index]+16:]
					binary.BigEndian.PutUint16(ip[2:], binary.BigEndian.Uint16(ip[2:])+200)
				}
				return b
			},
			msg: []string{"malformed", where(victims[0].index), "packet longer than its record"},
			ids: others, missing: []string{victims[0].id},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".pcap")
			if err := os.WriteFile(file, tc.damage(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			run, tg := r.replay(t, file, "--speed", "max")
			text := run.stdout
			if tc.fatal {
				text = run.stderr
				if run.exitCode() == 0 {
					t.Errorf("exit 0 for a damaged file, want non-zero:\n%s", run)
				}
			} else if run.exitCode() != 0 {
				t.Errorf("exit %d for a skippable damage, want 0:\n%s", run.exitCode(), run)
			}
			for _, m := range tc.msg {
				if !strings.Contains(text, m) {
					t.Errorf("output lacks %q:\n%s", m, run)
				}
			}
			if tc.ids != nil {
				wantIDs(t, tg, tc.ids, run)
			} else if n := tg.Count(); n != 0 {
				t.Errorf("target saw %d requests from an unreadable file", n)
			}
			for _, id := range tc.missing {
				if tg.Seen(id) {
					t.Errorf("request %s of a spoiled session reached the target", id)
				}
			}
		})
	}
}

// offlineBenchmark replays the recording several times over at full speed
// and reports sessions/s, packets/s and success.
func offlineBenchmark(t *testing.T, r *offlineRig) {
	const loops = 100
	run, tg := r.replay(t, r.rec, "--speed", "max", "--loops", fmt.Sprint(loops))
	if run.exitCode() != 0 {
		t.Fatalf("replay failed:\n%s", run)
	}
	n := parseReplay(run.stdout)
	if !n.summaryWasReadable || n.wall <= 0 {
		t.Fatalf("no summary:\n%s", run)
	}
	wantIDs(t, tg, r.ids, run)
	wantReplayed(t, n, run)
	expected := loops * len(captureRequests(r.pkts, ""))
	if got := int(tg.Stats.Requests.Load()); percentOf(got, expected) < 99.9 {
		t.Errorf("target received %d requests over %d loops, want %d", got, loops, expected)
	}
	// Rates over the replay's wall time: from opening the engine to the
	// last session drained (it includes the 250 ms quiet period of the
	// drain), so they are lower bounds.
	sec := n.wall.Seconds()
	t.Logf("BENCH offline replay --speed max --loops %d: %d sessions, %d packets; file read in %v; wall %v: "+
		"%.0f sessions/s, %.0f packets/s; sessions replayed %d (%.2f%%); target requests %d (expected %d)",
		loops, n.started, n.delivered, n.played, n.wall, float64(n.started)/sec, float64(n.delivered)/sec,
		n.replayed, percentOf(n.replayed, n.started), tg.Stats.Requests.Load(), expected)
	t.Logf("summary:\n%s", run.stdout)
}
