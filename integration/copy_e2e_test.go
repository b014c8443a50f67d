package integration

// End-to-end tests of issue 3: the real `replaygw up` and `replaygw copy`
// as children in a namespace lab, unique request ids from client to online,
// assertions on what the target receives.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// TestCopyModerateRate: short and keep-alive connections at a moderate
// rate; at least 99.9 % of the answered ids must reach the target.
func TestCopyModerateRate(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	r.startCopier(copierConf{}, true)
	// By default the live copier runs one worker on one CPU.
	if b, err := os.ReadFile(r.CPLog.Name()); err != nil || !bytes.Contains(b, []byte("workers=1 cpus=1")) {
		t.Errorf("copier log does not show the default footprint (workers=1 cpus=1): %v\n%s", err, b)
	}
	// 1000 short connections at 500/s, interleaved with 8 keep-alive
	// connections of 50 requests: 1400 requests at 700/s overall.
	lo := lab.LoadOptions{
		Addr: r.Lab.Addr(lab.Online).String() + ":80", Short: 1000, KeepAlive: 8, PerConn: 50,
		Rate: 700, Concurrency: 40, Duration: 15 * time.Second, IDPrefix: "mod",
	}
	res := loadAnswered(t, r.Lab, lo, 99)
	planned := lo.Short + lo.KeepAlive*lo.PerConn
	got := waitSeen(r.Target, res.OK, 5*time.Second)
	success := lab.Percent(got, len(res.OK))
	t.Logf("replay success: %d of %d answered ids reached the target = %.3f%% (planned %d, load %.1fs, %.0f req/s)",
		got, len(res.OK), success, planned, res.Elapsed.Seconds(), float64(len(res.OK))/res.Elapsed.Seconds())
	m := r.copierMetrics()
	t.Logf("copier fates: %v", fates(m))
	if success < 99.9 {
		t.Errorf("replay success %.3f%% < 99.9%%", success)
	}
	if n := r.Target.Stats.Duplicates.Load(); n != 0 {
		t.Errorf("target saw %d duplicate requests", n)
	}
	r.copierAlive()
}

// waitSeen waits until srv saw all ids, or nothing moved for a second, or
// limit passed; it returns how many it saw.
func waitSeen(srv *lab.IDServer, ids []string, limit time.Duration) int {
	end := time.Now().Add(limit)
	last, moved := srv.CountSeen(ids), time.Now()
	for last < len(ids) && time.Now().Before(end) && time.Since(moved) < time.Second {
		time.Sleep(50 * time.Millisecond)
		if n := srv.CountSeen(ids); n != last {
			last, moved = n, time.Now()
		}
	}
	return last
}

// TestCopyMidStreamJoin: keep-alive connections opened (and used) before
// the copier starts are joined mid-stream with synthesized handshakes; the
// requests sent on them after the copier is ready reach the target.
func TestCopyMidStreamJoin(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	addr := r.Lab.Addr(lab.Online).String() + ":80"
	const conns, pre, post = 4, 3, 5
	ka := lab.OpenKeepAlive(t, r.Lab, addr, conns)
	preIDs := ka.Send("pre", pre)
	r.startCopier(copierConf{}, true) // ready: a fresh probe connection was replayed
	postIDs := ka.Send("post", post)
	got := waitSeen(r.Target, postIDs, 5*time.Second)
	m := r.copierMetrics()
	syn, ok := metric(m, "replaygw_engine_synthesized_syns_total")
	t.Logf("target saw %d of %d requests sent after the copier was ready; %d of %d sent before; synthesized SYNs %v (exported %v); fates %v",
		got, len(postIDs), r.Target.CountSeen(preIDs), len(preIDs), syn, ok, fates(m))
	if got != len(postIDs) {
		t.Errorf("target saw %d of %d post-start requests", got, len(postIDs))
	}
	if n := r.Target.CountSeen(preIDs); n != 0 {
		t.Errorf("target saw %d requests sent before the copier ran", n)
	}
	if !ok {
		t.Fatalf("copier exports no replaygw_engine_synthesized_syns_total")
	}
	if syn < conns {
		t.Errorf("synthesized SYNs = %v, want >= %d (one per joined connection)", syn, conns)
	}
	r.copierAlive()
}

// TestCopyMultiplication: copies = 3 makes the target see every id three
// times, from three distinct client (address, port) tuples.
func TestCopyMultiplication(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	var mu sync.Mutex
	seen := make(map[string][]string) // id -> remote addr:port per arrival
	r.replaceTarget(lab.IDServerOptions{OnRequest: func(id, remote string) {
		mu.Lock()
		seen[id] = append(seen[id], remote)
		mu.Unlock()
	}})
	const copies = 3
	r.startCopier(copierConf{Extra: []string{fmt.Sprintf("copies = %d", copies)}}, true)
	lo := lab.LoadOptions{
		Addr: r.Lab.Addr(lab.Online).String() + ":80", Short: 100, KeepAlive: 4, PerConn: 25,
		Rate: 300, Concurrency: 16, Duration: 15 * time.Second, IDPrefix: "mul",
	}
	res := loadAnswered(t, r.Lab, lo, 100)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, id := range res.OK {
			n += min(len(seen[id]), copies)
		}
		return n
	}
	lab.WaitFor(t, 8*time.Second, func() bool { return count() == copies*len(res.OK) })
	mu.Lock()
	defer mu.Unlock()
	bad, tuples := 0, make(map[string]bool)
	for _, id := range res.OK {
		rs := seen[id]
		distinct := make(map[string]bool)
		for _, a := range rs {
			distinct[a] = true
			tuples[a] = true
		}
		if len(rs) != copies || len(distinct) != copies {
			if bad < 5 {
				t.Errorf("id %s arrived %d times from %d distinct tuples %v, want %d and %d", id, len(rs), len(distinct), rs, copies, copies)
			}
			bad++
		}
	}
	t.Logf("%d ids, %d arrivals expected, %d ids wrong; %d distinct client tuples on the target", len(res.OK), copies*len(res.OK), bad, len(tuples))
	if bad > 0 {
		t.Errorf("%d of %d ids not seen exactly %d times from distinct tuples", bad, len(res.OK), copies)
	}
	r.copierAlive()
}

// TestCopyPoolRewrite: with a /28 client pool every request the target
// sees comes from an address inside the pool.
func TestCopyPoolRewrite(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	pool := netip.MustParsePrefix("10.88.0.16/28") // inside the lab pool the target routes to the assistant
	r.startCopier(copierConf{Pool: pool}, true)
	lo := lab.LoadOptions{
		Addr: r.Lab.Addr(lab.Online).String() + ":80", Short: 200, KeepAlive: 4, PerConn: 25,
		Rate: 400, Concurrency: 16, Duration: 15 * time.Second, IDPrefix: "pool",
	}
	res := loadAnswered(t, r.Lab, lo, 100)
	got := waitSeen(r.Target, res.OK, 5*time.Second)
	if got != len(res.OK) {
		t.Errorf("target saw %d of %d", got, len(res.OK))
	}
	var inside, outside int
	var addrs []string
	for a, n := range r.Target.Sources() {
		if pool.Contains(a) {
			inside += n
			addrs = append(addrs, a.String())
		} else {
			outside += n
			t.Errorf("target saw %d requests from %s, outside the pool %s", n, a, pool)
		}
	}
	sort.Strings(addrs)
	t.Logf("target: %d requests from %d pool addresses %v, %d from outside %s", inside, len(addrs), addrs, outside, pool)
	if inside < got {
		t.Errorf("only %d requests from inside the pool, %d load requests arrived", inside, got)
	}
	r.copierAlive()
}

// TestCopySampling: sample_percent = 50 replays about half of 600 short
// connections. Sampling hashes each connection's tuple (the client's
// ephemeral port varies), so the replayed count is Binomial(600, 0.5):
// mean 300, sigma = sqrt(600*0.25) = 12.25. The bound of 4.5 sigma (+-55)
// fails a correct implementation with probability < 1e-5; a broken one
// (0 %, 100 %, or a fixed bucket) falls far outside.
func TestCopySampling(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	r.startCopier(copierConf{Extra: []string{"sample_percent = 50"}}, true)
	before := fates(r.copierMetrics())
	const n = 600
	lo := lab.LoadOptions{
		Addr: r.Lab.Addr(lab.Online).String() + ":80", Short: n,
		Rate: 400, Concurrency: 16, Duration: 15 * time.Second, IDPrefix: "smp",
	}
	res := loadAnswered(t, r.Lab, lo, 100)
	got := waitSeen(r.Target, res.OK, 5*time.Second)
	after := fates(r.copierMetrics())
	sampledOut := after["sampled_out"] - before["sampled_out"]
	sigma := math.Sqrt(n * 0.25)
	bound := 4.5 * sigma
	t.Logf("target saw %d of %d connections (expected %d +- %.0f = 4.5 sigma); sampled_out fate +%v; fates %v",
		got, n, n/2, bound, sampledOut, after)
	if math.Abs(float64(got)-n/2) > bound {
		t.Errorf("replayed %d of %d sessions, outside %d +- %.0f", got, n, n/2, bound)
	}
	if sampledOut <= 0 {
		t.Errorf("sampled_out fate did not grow (+%v)", sampledOut)
	}
	// Every connection is either sampled out or replayed.
	if d := math.Abs(float64(got) + sampledOut - n); d > 1 {
		t.Errorf("replayed %d + sampled out %v != %d connections", got, sampledOut, n)
	}
	r.copierAlive()
}

// TestCopyClientPortReuse: a client that reuses its few ports for short
// connections while the target still holds the replayed tuples in
// TIME_WAIT (the target closes first). Every request must still reach the
// target, each replay keeping the client's port on another pool address.
func TestCopyClientPortReuse(t *testing.T) {
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	var mu sync.Mutex
	ports := map[uint16]int{}
	addrs := map[netip.Addr]int{}
	r.replaceTarget(lab.IDServerOptions{OnRequest: func(id, remote string) {
		if ap, err := netip.ParseAddrPort(remote); err == nil && strings.HasPrefix(id, "reuse") {
			mu.Lock()
			ports[ap.Port()]++
			addrs[ap.Addr().Unmap()]++
			mu.Unlock()
		}
	}})
	r.startCopier(copierConf{}, true)
	const lo, hi = 40000, 40063 // 64 client ports for 256 connections
	if err := r.Lab.Sysctl(lab.Client, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", lo, hi)); err != nil {
		t.Fatal(err)
	}
	// The client may close first: let it reuse its TIME_WAIT ports (after
	// a second; hence 64 ports at 50 connections/s).
	if err := r.Lab.Sysctl(lab.Client, "net.ipv4.tcp_tw_reuse", "1"); err != nil {
		t.Fatal(err)
	}
	res, err := r.Lab.Load(context.Background(), lab.Client, lab.LoadOptions{
		Addr: r.Lab.Addr(lab.Online).String() + ":80", Short: 256, Rate: 50, Concurrency: 4,
		Duration: 15 * time.Second, IDPrefix: "reuse",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.OK) < 240 {
		t.Fatalf("online answered only %d of 256: %v", len(res.OK), res.Errors)
	}
	if got := waitSeen(r.Target, res.OK, 5*time.Second); got != len(res.OK) {
		t.Fatalf("%d of %d answered ids reached the target; fates %v", got, len(res.OK), fates(r.copierMetrics()))
	}
	mu.Lock()
	defer mu.Unlock()
	for p, n := range ports {
		if p < lo || p > hi {
			t.Errorf("target saw client port %d (%d requests) outside the client's %d-%d", p, n, lo, hi)
		}
	}
	// 256 connections over 64 ports: each port carried ~4 connections,
	// all within the copier's TIME_WAIT, so they spread over the pool.
	if len(addrs) < 3 {
		t.Errorf("replays came from %d pool addresses, want the reused ports spread over at least 3: %v", len(addrs), addrs)
	}
	if n, _ := metric(r.copierMetrics(), "sessions_ended_total", `fate="no_port"`); n != 0 {
		t.Errorf("%v sessions found no port", n)
	}
}
