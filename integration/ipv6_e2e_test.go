package integration

// End-to-end IPv6 replay: the real `replaygw up` with an IPv4 and an IPv6
// pool, the real `replaygw copy` replaying [fd77::20]:80 to [fd77::30]:80
// with client addresses rewritten into fd88::/64, unique request ids from
// the client namespace, assertions on what the target receives.

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// rgVPrefix names every namespace these tests create.
const rgVPrefix = "rgV"

// rgVRig is a copyRig whose gateway serves both lab pools and whose ID
// servers listen on the IPv6 addresses of online and target only.
type rgVRig struct {
	*copyRig
	online6, target6 netip.AddrPort
}

// newRGVRig builds the lab, replaces the demo's dual-stack ID servers by
// IPv6-only ones and starts `replaygw up` in the assistant with pools
// [lab.Pool, lab.Pool6]. Everything is removed in t.Cleanup.
func newRGVRig(t *testing.T, bin string) *rgVRig {
	t.Helper()
	cr := &copyRig{t: t}
	cr.Rig = &lab.Rig{
		Opts: lab.DemoOptions{Binary: bin, Prefix: rgVPrefix, ReadyTimeout: 20 * time.Second, Logger: lab.Logger(t)},
		Out:  &cr.log, Dir: t.TempDir(), Res: &lab.DemoResult{},
	}
	if err := cr.Opts.Defaults(); err != nil {
		t.Fatal(err)
	}
	r := &rgVRig{copyRig: cr}
	closeRigAtEnd(t, r.Rig, &r.log, rgVPrefix)
	if err := r.Setup(); err != nil {
		t.Fatal(err)
	}
	r.online6 = netip.AddrPortFrom(r.Lab.Addr6(lab.Online), 80)
	r.target6 = netip.AddrPortFrom(r.Lab.Addr6(lab.Target), 80)
	for _, s := range []struct {
		h    lab.Host
		addr netip.AddrPort
		dst  **lab.IDServer
	}{{lab.Online, r.online6, &r.Online}, {lab.Target, r.target6, &r.Target}} {
		(*s.dst).Close()
		ln, err := r.Lab.Listen(s.h, "tcp6", s.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		*s.dst = lab.NewIDServer(ln, lab.IDServerOptions{Logger: r.Opts.Logger})
	}
	r.tun = r.Lab.Name + "t" // the gateway's state file is /run/replaygw/<tun>.json
	gwc, err := os.ReadFile(r.GWConfig)
	if err != nil {
		t.Fatal(err)
	}
	pools := fmt.Sprintf("pools = [%q, %q]", r.Lab.Pool.String(), r.Lab.Pool6.String())
	for _, rep := range [][2]string{
		{`tun = "rgw0"`, fmt.Sprintf("tun = %q", r.tun)},
		{fmt.Sprintf("pools = [%q]", r.Lab.Pool.String()), pools},
	} {
		if !bytes.Contains(gwc, []byte(rep[0])) {
			t.Fatalf("gateway config has no %s:\n%s", rep[0], gwc)
		}
		gwc = bytes.Replace(gwc, []byte(rep[0]), []byte(rep[1]), 1)
	}
	cr.startGateway(gwc)
	return r
}

// startCopier6 starts the copier with client_pool = lab.Pool6 and the one
// route [fd77::20]:80 -> [fd77::30]:80, then waits until an IPv6 probe
// request is replayed to the target.
func (r *rgVRig) startCopier6() {
	r.t.Helper()
	r.startCopier(copierConf{Pool: r.Lab.Pool6, Routes: [][2]netip.AddrPort{{r.online6, r.target6}}}, false)
	deadline := time.Now().Add(r.Opts.ReadyTimeout)
	for i := 0; ; i++ {
		r.copierAlive()
		if _, err := r.Lab.Load(context.Background(), lab.Client, lab.LoadOptions{
			Addr: r.online6.String(), Short: 1, Duration: time.Second, IDPrefix: fmt.Sprintf("v6probe%d", i),
		}); err != nil {
			r.t.Fatalf("probe: %v", err)
		}
		wait := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(wait) {
			if r.Target.CountPrefix("v6probe") > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no IPv6 probe reached the target within %v (online saw %d)", r.Opts.ReadyTimeout, r.Online.CountPrefix("v6probe"))
		}
	}
}

// assertPoolSources fails unless every request the target saw came from
// inside pool; it returns the number of distinct pool addresses.
func (r *rgVRig) assertPoolSources(pool netip.Prefix, atLeast int) int {
	r.t.Helper()
	inside, addrs := 0, 0
	for a, n := range r.Target.Sources() {
		if !pool.Contains(a) {
			r.t.Errorf("target saw %d requests from %s, outside %s", n, a, pool)
			continue
		}
		inside += n
		addrs++
	}
	if inside < atLeast {
		r.t.Errorf("only %d requests from inside %s, want >= %d", inside, pool, atLeast)
	}
	return addrs
}

// assertNoLeaks fails when a pool-bound packet appeared on the client's
// or online host's LAN interface or was sent out again by the assistant,
// and when the gateway tried to write into its TUN.
func (r *rgVRig) assertNoLeaks() {
	r.t.Helper()
	var leaked uint64
	for _, pc := range r.Leaks {
		leaked += pc.Matched()
	}
	leaked += r.Forwarded.Stats.Out.Load()
	if leaked != 0 {
		r.t.Errorf("%d pool-bound packets leaked", leaked)
	}
	if r.Forwarded.Stats.In.Load() == 0 {
		r.t.Errorf("the assistant received no pool-bound packet: the counters see nothing")
	}
	gw, err := scrapeMetrics(r.Lab, lab.Assistant)
	if err != nil {
		r.t.Fatalf("gateway metrics: %v", err)
	}
	v, ok := gw["replaygw_tun_writes_attempted_total"]
	r.t.Logf("assistant: %d pool-bound packets in, %d out; gateway tun_writes_attempted %v (exported %v), records sent %v",
		r.Forwarded.Stats.In.Load(), r.Forwarded.Stats.Out.Load(), v, ok, gw["replaygw_gateway_records_sent_total"])
	if !ok {
		r.t.Errorf("gateway exports no replaygw_tun_writes_attempted_total")
	} else if v != 0 {
		r.t.Errorf("gateway attempted %v writes into the TUN", v)
	}
}

// TestIPv6Replay: short and keep-alive connections to [fd77::20]:80 are
// replayed to [fd77::30]:80 from fd88::/64; at least 99.9 % of the answered
// ids arrive, none twice, nothing pool-bound leaks.
func TestIPv6Replay(t *testing.T) {
	r := newRGVRig(t, needBinary(t, "up", "copy"))
	r.startCopier6()
	// 600 short connections and 8 keep-alive connections of 50 requests:
	// 1000 requests at 500/s.
	lo := lab.LoadOptions{
		Addr: r.online6.String(), Short: 600, KeepAlive: 8, PerConn: 50,
		Rate: 500, Concurrency: 32, Duration: 15 * time.Second, IDPrefix: "v6load",
	}
	res := loadAnswered(t, r.Lab, lo, 99)
	planned := lo.Short + lo.KeepAlive*lo.PerConn
	got := waitSeen(r.Target, res.OK, 5*time.Second)
	success := lab.Percent(got, len(res.OK))
	m := r.copierMetrics()
	t.Logf("IPv6 replay: %d of %d answered ids reached the target = %.3f%% (planned %d, load %.1fs); duplicates %d; fates %v",
		got, len(res.OK), success, planned, res.Elapsed.Seconds(), r.Target.Stats.Duplicates.Load(), fates(m))
	if success < 99.9 {
		t.Errorf("replay success %.3f%% < 99.9%%", success)
	}
	if n := r.Target.Stats.Duplicates.Load(); n != 0 {
		t.Errorf("target saw %d duplicate requests", n)
	}
	addrs := r.assertPoolSources(r.Lab.Pool6, got)
	t.Logf("target clients: %d distinct addresses in %s", addrs, r.Lab.Pool6)
	r.assertNoLeaks()
	r.copierAlive()
}

// TestIPv6MidStreamJoin: keep-alive IPv6 connections opened before the
// copier starts are joined with synthesized SYNs; the requests sent on
// them afterwards reach the target from fd88::/64.
func TestIPv6MidStreamJoin(t *testing.T) {
	r := newRGVRig(t, needBinary(t, "up", "copy"))
	addr := r.online6.String()
	const conns, pre, post = 4, 2, 5
	ka := lab.OpenKeepAlive(t, r.Lab, addr, conns)
	preIDs := ka.Send("v6pre", pre)
	r.startCopier6()
	postIDs := ka.Send("v6post", post)
	got := waitSeen(r.Target, postIDs, 5*time.Second)
	m := r.copierMetrics()
	syn, ok := metric(m, "replaygw_engine_synthesized_syns_total")
	t.Logf("target saw %d of %d requests sent after the copier was ready, %d of %d sent before; synthesized SYNs %v; fates %v",
		got, len(postIDs), r.Target.CountSeen(preIDs), len(preIDs), syn, fates(m))
	if got != len(postIDs) {
		t.Errorf("target saw %d of %d post-start requests", got, len(postIDs))
	}
	if n := r.Target.CountSeen(preIDs); n != 0 {
		t.Errorf("target saw %d requests sent before the copier ran", n)
	}
	if !ok || syn < conns {
		t.Errorf("synthesized SYNs = %v (exported %v), want >= %d", syn, ok, conns)
	}
	if n := r.Target.Stats.Duplicates.Load(); n != 0 {
		t.Errorf("target saw %d duplicate requests", n)
	}
	r.assertPoolSources(r.Lab.Pool6, got)
	r.assertNoLeaks()
	r.copierAlive()
}
