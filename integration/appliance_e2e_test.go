package integration

// End-to-end test of appliance mode: one `replaygw appliance` on the assistant
// with [gateway] and [copy] fed by a mirror port, then the same config fed
// from the capture file it recorded.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab"
)

const applianceMirror = "rgOmir"

// applianceTOML renders the appliance config of lab l: the gateway on the
// assistant's LAN interface, the copier on the mirror port. record, when
// set, is where the copier writes what it captures; clients are mapped into
// clientPool, a part of the gateway's pool.
func applianceTOML(l *lab.Lab, clientPool netip.Prefix, record string) string {
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	var b strings.Builder
	fmt.Fprintf(&b, "[gateway]\ntun = %q\npools = [%q]\ningress = %q\ntoken = %q\n\n", "rgw0", l.Pool, lab.Iface, hex.EncodeToString(tok[:]))
	fmt.Fprintf(&b, "[copy]\ninterface = %q\nclient_pool = %q\n", applianceMirror, clientPool)
	if record != "" {
		fmt.Fprintf(&b, "record = %q\n", record)
	}
	fmt.Fprintf(&b, "\n[[copy.route]]\nfrom = %q\nto = %q\n\n",
		netip.AddrPortFrom(l.Addr(lab.Online), 80), netip.AddrPortFrom(l.Addr(lab.Target), 80))
	fmt.Fprintf(&b, "[metrics]\nlisten = %q\n", lab.DemoMetricsListen)
	return b.String()
}

func TestApplianceMirrorPort(t *testing.T) {
	bin := needBinary(t, "appliance", "replay")
	l := lab.NewTestLab(t, lab.LabOptions{Prefix: "rgO", Logger: lab.Logger(t)})
	// Each run maps the clients into its own part of the pool: the file
	// replays play the live run's 4-tuples again, and must not meet the
	// target's TIME_WAIT of them (a fresh target would hold none).
	poolBase := l.Pool.Addr().As4()
	part := func(i int) netip.Prefix {
		a := poolBase
		a[3] = byte(64 * i)
		return netip.PrefixFrom(netip.AddrFrom4(a), 26)
	}
	if err := l.AddMirror(lab.Online, lab.Assistant, applianceMirror); err != nil {
		t.Fatal(err)
	}
	lab.ServeIDs(t, l, lab.Online, lab.IDServerOptions{})
	target, err := newArrivalTarget(l)
	if err != nil {
		t.Fatal(err)
	}
	pools := []netip.Prefix{l.Pool, l.Pool6}
	var leaks []*lab.PacketCounter
	for _, h := range []lab.Host{lab.Client, lab.Online} {
		pc, err := l.NewPacketCounter(h, lab.Iface, pools...)
		if err != nil {
			t.Fatal(err)
		}
		leaks = append(leaks, pc)
	}
	forwarded, err := l.NewPacketCounter(lab.Assistant, lab.Iface, pools...)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	rec := filepath.Join(dir, "mirror.pcapng")
	cfgLive := filepath.Join(dir, "appliance.toml")
	cfgFile := filepath.Join(dir, "appliance-file.toml")     // no record: the replay must not overwrite its source
	cfgSource := filepath.Join(dir, "appliance-source.toml") // copy.source = the recording
	sourceTOML := strings.Replace(applianceTOML(l, part(2), ""), "[copy]\n", fmt.Sprintf("[copy]\nsource = %q\n", rec), 1)
	for path, text := range map[string]string{cfgLive: applianceTOML(l, part(0), rec), cfgFile: applianceTOML(l, part(1), ""), cfgSource: sourceTOML} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "appliance.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	app, err := l.Start(lab.Assistant, logf, bin, "appliance", "--config", cfgLive)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			app.Stop(5 * time.Second)
		}
		if t.Failed() {
			t.Logf("appliance log:\n%s", lab.LogTail(logf.Name(), 40))
		}
	})

	// Ready when a probe request to the online server reaches the target.
	ctx := context.Background()
	addr := l.Addr(lab.Online).String() + ":80"
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; target.CountPrefix("probe") == 0; i++ {
		select {
		case <-app.Done():
			t.Fatalf("appliance exited: %v\n%s", app.Err(), lab.LogTail(logf.Name(), 20))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe request reached the target within 20s\n%s", lab.LogTail(logf.Name(), 20))
		}
		if _, err := l.Load(ctx, lab.Client, lab.LoadOptions{Addr: addr, Short: 1, Duration: time.Second, IDPrefix: fmt.Sprintf("probe%d", i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	promisc, err := l.Exec(lab.Assistant, "ip", "link", "show", applianceMirror).Output()
	if err != nil || !strings.Contains(string(promisc), "PROMISC") {
		t.Errorf("mirror port not promiscuous while the appliance runs: %s %v", promisc, err)
	}

	lo := lab.LoadOptions{Addr: addr, Short: 200, KeepAlive: 4, PerConn: 25, Rate: 150, Duration: 15 * time.Second, IDPrefix: "app"}
	res, err := l.Load(ctx, lab.Client, lo)
	if err != nil {
		t.Fatal(err)
	}
	want := lo.Short + lo.KeepAlive*lo.PerConn
	if len(res.OK) < want*99/100 {
		t.Fatalf("online answered %d of %d: %v", len(res.OK), want, res.Errors)
	}
	lab.WaitFor(t, 5*time.Second, func() bool { return target.CountSeen(res.OK) == len(res.OK) })
	time.Sleep(300 * time.Millisecond) // late responses of the target, for the leak counters
	got := target.CountSeen(res.OK)
	t.Logf("mirror port: target saw %d of %d requests", got, len(res.OK))
	if p := percentOf(got, len(res.OK)); p < 99.9 {
		t.Errorf("target saw %d of %d ids (%.2f%%, want >= 99.9%%)", got, len(res.OK), p)
	}
	var pool, other int
	for a, n := range target.Sources() {
		if l.Pool.Contains(a) {
			pool++
		} else {
			other += n
		}
	}
	if pool == 0 || other != 0 {
		t.Errorf("target clients: %d pool addresses, %d requests from outside the pool", pool, other)
	}
	for i, pc := range leaks {
		if n := pc.Matched(); n != 0 {
			t.Errorf("%s: %d pool-bound packets on its LAN interface", []lab.Host{lab.Client, lab.Online}[i], n)
		}
	}
	if n := forwarded.Stats.Out.Load(); n != 0 {
		t.Errorf("assistant sent %d pool-bound packets back out", n)
	}
	if n := forwarded.Stats.In.Load(); n == 0 {
		t.Error("assistant received no pool-bound packets: the target's answers did not come to the gateway (the leak counters prove nothing)")
	}

	if err := app.Stop(5 * time.Second); err != nil {
		t.Errorf("appliance did not stop cleanly: %v", err)
	}
	stopped = true
	promisc, _ = l.Exec(lab.Assistant, "ip", "link", "show", applianceMirror).Output()
	if strings.Contains(string(promisc), "PROMISC") {
		t.Errorf("mirror port still promiscuous after the appliance stopped: %s", promisc)
	}
	target.Close()

	t.Run("fed from a file", func(t *testing.T) {
		// What the appliance recorded on the mirror port, replayed by the
		// appliance itself (gateway in-process, sender TUN) at full speed.
		if _, err := os.Stat(rec); err != nil {
			t.Fatalf("the appliance recorded nothing: %v", err)
		}
		tg := freshTarget(t, l)
		run := runReplay(l, lab.Assistant, bin, cfgFile, rec, 60*time.Second, "--speed", "max", "--local-gateway")
		if run.crashed() || run.exitCode() != 0 {
			t.Fatalf("appliance replay failed:\n%s", run)
		}
		wantIDs(t, tg, res.OK, run)
		for a := range tg.Sources() {
			if !l.Pool.Contains(a) {
				t.Errorf("file replay: request from %s, outside the pool", a)
			}
		}
		if n := forwarded.Stats.Out.Load(); n != 0 {
			t.Errorf("assistant sent %d pool-bound packets back out", n)
		}
	})

	t.Run("appliance with copy.source a file", func(t *testing.T) {
		// `replaygw appliance` plays copy.source once at 1x and exits.
		tg := freshTarget(t, l)
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		out, err := l.ExecContext(ctx, lab.Assistant, bin, "appliance", "--config", cfgSource).CombinedOutput()
		if err != nil || strings.Contains(string(out), "panic:") {
			t.Fatalf("replaygw appliance with copy.source = %s: %v\n%s", rec, err, out)
		}
		wantIDs(t, tg, res.OK, replayRun{stdout: string(out)})
	})
}
