package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/lab/netns"
)

func TestLabHTTPThroughBridge(t *testing.T) {
	l := NewTestLab(t, LabOptions{})
	srv := ServeIDs(t, l, Online, IDServerOptions{})

	for _, addr := range []string{"10.77.0.20:80", "[fd77::20]:80"} {
		t.Run(addr, func(t *testing.T) {
			before := srv.Count()
			res, err := l.Load(context.Background(), Client, LoadOptions{
				Addr: addr, Short: 20, KeepAlive: 3, PerConn: 10, Duration: 10 * time.Second, Concurrency: 4,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.OK) != 50 || res.Failed != 0 || res.NotSent != 0 {
				t.Fatalf("ok=%d failed=%d not_sent=%d errors=%v", len(res.OK), res.Failed, res.NotSent, res.Errors)
			}
			for _, id := range res.OK {
				if !srv.Seen(id) {
					t.Errorf("server did not record %s", id)
				}
			}
			if got := srv.Count() - before; got != 50 {
				t.Errorf("server recorded %d new ids, want 50", got)
			}
			if srv.Seen("never-sent") {
				t.Error("server claims an id nobody sent")
			}
		})
	}
	src := srv.Sources()
	if len(src) != 2 || src[netip.MustParseAddr("10.77.0.10")] != 50 || src[netip.MustParseAddr("fd77::10")] != 50 {
		t.Errorf("sources %v, want 50 each from the client's two addresses", src)
	}
	if d := srv.Stats.Duplicates.Load(); d != 0 {
		t.Errorf("%d duplicate ids", d)
	}
	// The server's listener is in the online namespace: the client reached
	// it over the bridge, and a peer address shows the client's address.
	// The server records a latency after its write returns, which can be
	// after the client read the response.
	WaitFor(t, 2*time.Second, func() bool { _, n := srv.Latencies(0); return n >= 100 })
	lat, _ := srv.Latencies(0)
	if len(lat) != 100 {
		t.Errorf("%d latencies recorded, want 100", len(lat))
	}
}

func TestLabTargetRoutesPoolViaAssistant(t *testing.T) {
	l := NewTestLab(t, LabOptions{})
	for _, tc := range []struct{ dst, via string }{
		{"10.88.0.7", "via 10.77.0.40"},
		{"fd88::7", "via fd77::40"},
	} {
		out, err := l.Exec(Target, "ip", "route", "get", tc.dst).CombinedOutput()
		if err != nil {
			t.Fatalf("route get %s: %v: %s", tc.dst, err, out)
		}
		if !bytes.Contains(out, []byte(tc.via)) || !bytes.Contains(out, []byte("dev "+Iface)) {
			t.Errorf("target route to %s: %s", tc.dst, out)
		}
		// Nobody else routes the pool.
		out, _ = l.Exec(Online, "ip", "route", "get", tc.dst).CombinedOutput()
		if bytes.Contains(out, []byte(tc.via)) {
			t.Errorf("online routes the pool via the assistant: %s", out)
		}
	}
	for _, h := range Hosts {
		v, err := l.ReadSysctl(h, "net.ipv4.conf."+Iface+".rp_filter")
		if err != nil || v != "0" {
			t.Errorf("%s rp_filter = %q, %v", h, v, err)
		}
	}
	// Sysctl writes land in the host's namespace only.
	if err := l.Sysctl(Assistant, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := l.ReadSysctl(Target, "net.ipv4.ip_forward"); v != "0" {
		t.Errorf("target ip_forward = %s after setting the assistant's", v)
	}
	if v, _ := l.ReadSysctl(Assistant, "net.ipv4.ip_forward"); v != "1" {
		t.Errorf("assistant ip_forward = %s", v)
	}
}

func TestLabCloseRemovesEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	l, err := NewLab(LabOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	names, err := netns.List(l.Name + "-")
	if err != nil || len(names) != 5 {
		t.Fatalf("namespaces %v, %v; want 5", names, err)
	}
	// Things that would keep a namespace alive: a listener, a child
	// process, a dial pool.
	if _, err := l.Listen(Target, "tcp", ":80"); err != nil {
		t.Fatal(err)
	}
	p, err := l.Start(Target, nil, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.Dialer(Client)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(context.Background(), "tcp", "10.77.0.30:80")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != "10.77.0.10" {
		t.Errorf("dial from client used %s", got)
	}
	c.Close()

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("close took %v", time.Since(start))
	select {
	case <-p.Done():
	default:
		t.Error("child still running after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	AssertNoNamespaces(t, l.Name)
	if _, err := l.Start(Target, nil, "true"); err == nil {
		t.Error("Start on a closed lab succeeded")
	}
}

func TestLabStartRunsInNamespace(t *testing.T) {
	l := NewTestLab(t, LabOptions{})
	var out bytes.Buffer
	p, err := l.Start(Assistant, &out, "ip", "-o", "addr", "show", "dev", Iface)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "10.77.0.40/24") || !strings.Contains(out.String(), "fd77::40/64") {
		t.Errorf("assistant addresses: %s", out.String())
	}
	// Stop escalates to SIGKILL for a child that ignores SIGTERM.
	p, err = l.Start(Assistant, nil, "sh", "-c", "trap '' TERM; sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let sh install the trap
	start := time.Now()
	if err := p.Stop(300 * time.Millisecond); err == nil {
		t.Error("Stop of a SIGTERM-ignoring child reported a clean exit")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Stop took %v", took)
	}
}

func TestCleanStaleRemovesDeadOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	// A pid that certainly does not run any more: a finished child.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	prefix := fmt.Sprintf("rgLstale%d", os.Getpid())
	deadNS := fmt.Sprintf("%s%d-1-client", prefix, dead)
	liveNS := fmt.Sprintf("%s%d-1-client", prefix, os.Getpid())
	for _, ns := range []string{deadNS, liveNS} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Cleanup(func() { netns.Remove(ns) })
	}
	if netns.ProcessAlive(dead) {
		t.Skipf("pid %d was reused", dead)
	}
	CleanStale(prefix, Logger(t))
	names, _ := netns.List(prefix)
	if len(names) != 1 || names[0] != liveNS {
		t.Errorf("after cleanup: %v, want only %s", names, liveNS)
	}
}

func TestPacketCounterCountsPoolTraffic(t *testing.T) {
	l := NewTestLab(t, LabOptions{})
	pools := []netip.Prefix{l.Pool, l.Pool6}
	targetOut, err := l.NewPacketCounter(Target, Iface, pools...)
	if err != nil {
		t.Fatal(err)
	}
	assistantIn, err := l.NewPacketCounter(Assistant, Iface, pools...)
	if err != nil {
		t.Fatal(err)
	}
	clientSeen, err := l.NewPacketCounter(Client, Iface, pools...)
	if err != nil {
		t.Fatal(err)
	}
	clientOwn, err := l.NewPacketCounter(Client, Iface, netip.MustParsePrefix("10.77.0.10/32"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	err = l.Do(Target, func() error {
		for _, dst := range []string{"10.88.0.5:9", "[fd88::5]:9"} {
			c, err := net.Dial("udp", dst)
			if err != nil {
				return err
			}
			for range n {
				c.Write([]byte("to the pool"))
			}
			c.Close()
		}
		// Not pool-bound: must not be counted.
		c, err := net.Dial("udp", "10.77.0.10:9")
		if err != nil {
			return err
		}
		c.Write([]byte("to the client"))
		return c.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 2*time.Second, func() bool { return targetOut.Stats.Out.Load() >= 2*n && assistantIn.Stats.In.Load() >= 2*n })
	time.Sleep(100 * time.Millisecond) // late strays would show now
	if got := targetOut.Stats.Out.Load(); got != 2*n {
		t.Errorf("target sent %d pool-bound packets, want %d", got, 2*n)
	}
	if got := targetOut.Stats.In.Load(); got != 0 {
		t.Errorf("target received %d pool-bound packets", got)
	}
	if got := assistantIn.Stats.In.Load(); got != 2*n {
		t.Errorf("assistant received %d pool-bound packets, want %d", got, 2*n)
	}
	// The assistant does not forward (ip_forward=0): nothing goes back out.
	if got := assistantIn.Stats.Out.Load(); got != 0 {
		t.Errorf("assistant forwarded %d pool-bound packets", got)
	}
	if got := clientSeen.Matched(); got != 0 {
		t.Errorf("client saw %d pool-bound packets", got)
	}
	if _, tx, err := l.LinkStats(Target, Iface); err != nil || tx < 2*n {
		t.Errorf("target %s transmitted %d packets (%v), want >= %d", Iface, tx, err, 2*n)
	}
	// The kernel filter passes the client's own address and nothing more.
	if got := clientOwn.Stats.In.Load(); got != 1 {
		t.Errorf("client counter for its own address saw %d datagrams, want 1", got)
	}
	if got := clientOwn.Stats.Passed.Load(); got != 1 {
		t.Errorf("client's own-address filter passed %d packets, want 1", got)
	}
	if got := clientSeen.Stats.Passed.Load(); got != 0 {
		t.Errorf("client's pool filter passed %d packets, want 0", got)
	}

}

func TestLoadIsBounded(t *testing.T) {
	l := NewTestLab(t, LabOptions{})
	ServeIDs(t, l, Online, IDServerOptions{})
	start := time.Now()
	res, err := l.Load(context.Background(), Client, LoadOptions{
		Addr: "10.77.0.20:80", Short: 1000, KeepAlive: 2, PerConn: 1000, Rate: 100, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("ok=%d failed=%d not_sent=%d in %v; errors: %v", len(res.OK), res.Failed, res.NotSent, took, res.Errors)
	// Unbounded, this would take 30s at 100/s. The slack is for busy CI.
	if took > 2500*time.Millisecond {
		t.Errorf("load ran %v, limit 1s", took)
	}
	if len(res.OK) == 0 || len(res.OK) > 110 {
		t.Errorf("%d requests at 100/s in 1s", len(res.OK))
	}
	if len(res.OK)+res.Failed+res.NotSent != 3000 {
		t.Errorf("ok+failed+not_sent = %d, want 3000", len(res.OK)+res.Failed+res.NotSent)
	}
	// A dead server: the run still ends, with failures.
	res, err = l.Load(context.Background(), Client, LoadOptions{Addr: "10.77.0.30:80", Short: 10, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 10 || len(res.OK) != 0 {
		t.Errorf("against a closed port: ok=%d failed=%d", len(res.OK), res.Failed)
	}
}

func TestNewLabCleansUpAfterPartialFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	// A pool equal to the LAN makes the target's route add fail after all
	// namespaces, the bridge and the veths exist.
	prefix := "rgLpf"
	l, err := NewLab(LabOptions{Prefix: prefix, Pool: LabNet})
	if err == nil {
		l.Close()
		t.Fatal("NewLab with the pool on the LAN succeeded")
	}
	if !strings.Contains(err.Error(), "host target") {
		t.Errorf("error does not name the failing step: %v", err)
	}
	names, lerr := netns.List(fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	if lerr != nil || len(names) != 0 {
		t.Errorf("left behind after a failed NewLab: %v %v", names, lerr)
	}
}

// TestLabThreadedNAPI: every veth end receives in a kernel thread of its
// own (GRO on, TSO off, threaded) and traffic still crosses the bridge.
func TestLabThreadedNAPI(t *testing.T) {
	l := NewTestLab(t, LabOptions{})
	if err := l.ThreadedNAPI(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range append(l.namespaces(), l.SwitchNS()) {
		out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c",
			"for d in /sys/class/net/*/threaded; do case $d in */lo/*|*/br0/*) ;; *) cat $d;; esac; done; tc qdisc show").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", ns, err, out)
		}
		flags, qdiscs, _ := strings.Cut(string(out), "qdisc")
		if f := strings.Fields(flags); len(f) == 0 || strings.Count(flags, "1") != len(f) {
			t.Errorf("%s: threaded = %q, want 1 on every veth", ns, flags)
		}
		if strings.Count(qdiscs, "pfifo") != len(strings.Fields(flags)) {
			t.Errorf("%s: qdiscs %q, want a pfifo on every veth", ns, "qdisc"+qdiscs)
		}
	}
	for _, h := range Hosts {
		var gro, tso uint32
		err := l.Do(h, func() error {
			var err error
			if gro, err = ethtoolGet(Iface, ethtoolGGRO); err != nil {
				return err
			}
			tso, err = ethtoolGet(Iface, ethtoolGTSO)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if gro != 1 || tso != 0 {
			t.Errorf("%s: gro %d tso %d, want 1 and 0", h, gro, tso)
		}
	}
	srv := ServeIDs(t, l, Online, IDServerOptions{})
	res, err := l.Load(context.Background(), Client, LoadOptions{
		Addr: "10.77.0.20:80", Short: 50, KeepAlive: 2, PerConn: 25, Duration: 10 * time.Second, Concurrency: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.OK) != 100 || srv.CountSeen(res.OK) != 100 {
		t.Fatalf("ok=%d seen=%d failed=%d errors=%v", len(res.OK), srv.CountSeen(res.OK), res.Failed, res.Errors)
	}
}
