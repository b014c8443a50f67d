package integration

// End-to-end test of issue 11: a gateway SIGKILLed and restarted at once
// with the same file comes back (the dead process's state-file lock does
// not block it; TUN, route and redirect are made again) and the copier's
// later sessions replay.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

// TestGatewayKillRestart: kill -9 of `replaygw up`, reaped by its parent,
// a new `replaygw up` on the same file within milliseconds; every id sent
// once the copier has reconnected reaches the target.
func TestGatewayKillRestart(t *testing.T) {
	r := newSharedRig(t, needBinary(t, "up", "copy"))
	addr := r.Lab.Addr(lab.Online).String() + ":80"
	before := loadAnswered(t, r.Lab, lab.LoadOptions{
		Addr: addr, Short: 100, Rate: 200, Concurrency: 8, Duration: 10 * time.Second, IDPrefix: "before",
	}, 100)
	if got := waitSeen(r.Target, before.OK, 5*time.Second); got != len(before.OK) {
		t.Fatalf("before the restart the target saw %d of %d ids", got, len(before.OK))
	}

	old := r.GW
	killed := time.Now()
	if err := old.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-old.Done() // the lab's wait goroutine reaps it (cmd.Wait)
	reaped := time.Since(killed)
	r.startUp() // same file, at once
	respawn := r.GW.Cmd.Process
	up := time.Since(killed)
	if r.GW == old || respawn == nil {
		t.Fatal("no new gateway process")
	}
	// The restart must be immediate (about 100 ms on an idle machine; the
	// bound leaves room for a loaded one): this is what a supervisor that
	// restarts at once does, with the dead process's lock just released.
	if reaped > 500*time.Millisecond {
		t.Errorf("reaping the killed gateway took %v (> 500ms): the restart was not immediate", reaped)
	}
	if out, err := r.Lab.Exec(lab.Assistant, "ip", "link", "show", r.tun, "up").CombinedOutput(); err != nil || len(out) == 0 {
		t.Fatalf("after the restart the TUN %s is not up in the assistant: %v %s", r.tun, err, out)
	}
	route, err := r.Lab.Exec(lab.Assistant, "ip", "route", "show", r.Lab.Pool.String()).CombinedOutput()
	if err != nil || len(route) == 0 {
		t.Errorf("after the restart no route for %s in the assistant: %v %s", r.Lab.Pool, err, route)
	}

	// The copier reconnects on its own; then a probe session must replay.
	var reconnected time.Duration
	lab.WaitFor(t, 20*time.Second, func() bool {
		n, ok := metric(r.gatewayMetrics(), "replaygw_gateway_copiers_connected")
		if ok && n >= 1 {
			reconnected = time.Since(killed)
			return true
		}
		return false
	})
	var replayed time.Duration
	for i := 0; replayed == 0; i++ {
		r.copierAlive()
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no probe replayed within 30s of the kill\n%s", lab.LogTail(r.GWLog.Name(), 20))
		}
		prefix := fmt.Sprintf("again%d-", i)
		if _, err := r.Lab.Load(context.Background(), lab.Client, lab.LoadOptions{Addr: addr, Short: 1, Duration: time.Second, IDPrefix: prefix}); err != nil {
			t.Fatal(err)
		}
		for wait := time.Now().Add(200 * time.Millisecond); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			if r.Target.CountPrefix(prefix) > 0 {
				replayed = time.Since(killed)
				break
			}
		}
	}
	t.Logf("gateway restart: killed pid %d, reaped after %v, new pid %d serving /metrics after %v, copier reconnected after %v, first session replayed after %v",
		old.Pid(), reaped.Round(time.Microsecond), respawn.Pid, up.Round(time.Millisecond),
		reconnected.Round(time.Millisecond), replayed.Round(time.Millisecond))

	after := loadAnswered(t, r.Lab, lab.LoadOptions{
		Addr: addr, Short: 400, KeepAlive: 4, PerConn: 25, Rate: 400, Concurrency: 16,
		Duration: 10 * time.Second, IDPrefix: "after",
	}, 100)
	got := waitSeen(r.Target, after.OK, 5*time.Second)
	t.Logf("after the restart: %d of %d answered ids reached the target", got, len(after.OK))
	if got != len(after.OK) {
		t.Errorf("after the restart the target saw %d of %d ids", got, len(after.OK))
	}
	m := r.gatewayMetrics()
	if n, _ := metric(m, "replaygw_gateway_copiers_connected"); n != 1 {
		t.Errorf("gateway has %v copiers connected at the end, want 1", n)
	}
	r.copierAlive()
	r.unchanged()
}
