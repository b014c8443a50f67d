package integration

// Resilience to restarts (issue 14 items 1 and 2): the target server
// stopped and started again under keep-alive load, and the copier killed
// and started again while the client's connections go on.

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// conns is how many keep-alive connections the restart tests keep open.
const conns = 8

// keepAliveReplayed starts the rig and the copier, opens the keep-alive
// connections and checks that their first requests are replayed.
func keepAliveReplayed(t *testing.T) (*copyRig, *lab.KeepAlive) {
	t.Helper()
	r := newCopyRig(t, needBinary(t, "up", "copy"))
	r.startCopier(copierConf{}, true)
	ka := lab.OpenKeepAlive(t, r.Lab, r.Lab.Addr(lab.Online).String()+":80", conns)
	first := ka.Send("first", 5)
	if got := waitSeen(r.Target, first, 5*time.Second); got != len(first) {
		t.Fatalf("before any restart the target saw %d of %d requests", got, len(first))
	}
	return r, ka
}

// TestTargetRestartKeepAlive: the target's server stops (closing every
// connection) and starts again 2 s later while keep-alive clients go on
// sending. Every request the online server answered from 1 s after the
// target is back reaches the target: the sessions the target closed are
// reopened at the next request.
func TestTargetRestartKeepAlive(t *testing.T) {
	r, ka := keepAliveReplayed(t)

	r.Target.Close() // the server goes away: its connections are closed
	stopped := time.Now()
	down := ka.Send("down", 3)
	time.Sleep(time.Until(stopped.Add(2 * time.Second)))
	ln, err := r.Lab.Listen(lab.Target, "tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	r.Target = lab.NewIDServer(ln, lab.IDServerOptions{Logger: r.Opts.Logger})
	time.Sleep(time.Second)

	after := ka.Send("after", 20)
	got := waitSeen(r.Target, after, 10*time.Second)
	m := r.copierMetrics()
	re, _ := metric(m, "replaygw_engine_sessions_reestablished_total")
	t.Logf("target saw %d of %d requests sent from 1 s after its restart (%d of %d while down); reestablished %v; fates %v",
		got, len(after), r.Target.CountSeen(down), len(down), re, fates(m))
	if got != len(after) {
		t.Errorf("target saw %d of %d requests sent from 1 s after its restart", got, len(after))
	}
	// At most one new connection per request from the target's close on
	// (a refused one waits for the next request, it does not retry), and
	// one per connection to the target restarted at least.
	if most := float64(len(down) + len(after) + conns); re < conns || re > most {
		t.Errorf("reestablished = %v, want %d to %v (one per keep-alive connection, at most one per request)", re, conns, most)
	}
	r.copierAlive()
}

// TestCopierKilledAndRestarted: a copier SIGKILLed under keep-alive load
// leaves no lease on the gateway (they go with its control connection),
// and a new copier joins the client's connections mid-stream: its requests
// reach the target (the target's stale connections on the same tuples are
// reset, see the engine's SYN-SENT handling).
func TestCopierKilledAndRestarted(t *testing.T) {
	r, ka := keepAliveReplayed(t)
	if err := r.CP.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.CP.Done()
	var leases float64 = -1
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		leases, _ = metric(r.gatewayMetrics(), "replaygw_gateway_leases_active")
		if copiers, _ := metric(r.gatewayMetrics(), "replaygw_gateway_copiers_connected"); leases == 0 && copiers == 0 {
			break
		}
	}
	if leases != 0 {
		t.Errorf("gateway holds %v leases after the copier was killed, want 0", leases)
	}
	r.startCopier(copierConf{}, true)
	second := ka.Send("second", 10)
	got := waitSeen(r.Target, second, 10*time.Second)
	m := r.copierMetrics()
	stale, _ := metric(m, "replaygw_engine_stale_resets_total")
	t.Logf("after the restart the target saw %d of %d requests; stale resets %v; fates %v", got, len(second), stale, fates(m))
	if got != len(second) {
		t.Errorf("after the copier restart the target saw %d of %d requests", got, len(second))
	}
	r.copierAlive()
}

// TestGatewayRestartKeepAlive: the gateway stops for 2 s and starts again
// while keep-alive clients go on. The copier reconnects and restores its
// leases; requests whose responses were lost meanwhile are retransmitted
// (none waits for the idle timeout), and every request from 1 s after the
// gateway is back reaches the target.
func TestGatewayRestartKeepAlive(t *testing.T) {
	r, ka := keepAliveReplayed(t)
	config, err := os.ReadFile(r.GWConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.GW.Stop(5 * time.Second); err != nil {
		t.Fatalf("gateway stop: %v", err)
	}
	stopped := time.Now()
	down := ka.Send("down", 3)
	time.Sleep(time.Until(stopped.Add(2 * time.Second)))
	r.startGateway(config)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n, _ := metric(r.gatewayMetrics(), "replaygw_gateway_copiers_connected"); n == 1 {
			break
		}
	}
	back := time.Now()
	time.Sleep(time.Second)
	after := ka.Send("after", 20)
	got := waitSeen(r.Target, after, 10*time.Second)
	downSeen := waitSeen(r.Target, down, 30*time.Second)
	m := r.copierMetrics()
	t.Logf("copier back on the gateway %v after its restart; target saw %d of %d requests from 1 s later, %d of %d sent while it was down; fates %v",
		back.Sub(stopped.Add(2*time.Second)).Round(time.Millisecond), got, len(after), downSeen, len(down), fates(m))
	if got != len(after) {
		t.Errorf("target saw %d of %d requests sent from 1 s after the gateway restart", got, len(after))
	}
	if downSeen != len(down) { // they go to the target directly; only the responses were lost
		t.Errorf("target saw %d of %d requests sent while the gateway was down", downSeen, len(down))
	}
	r.copierAlive()
}
