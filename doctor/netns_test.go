package doctor

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/replaygw/replaygw/configs"
)

const labToken = "s3cret"

func labConfig(copyToken string) *configs.Config {
	return &configs.Config{
		Gateway: &configs.Gateway{TUN: tunName, Pools: []string{labPool}, Ingress: "eth0", Listen: ":36524", Token: labToken},
		Copy: &configs.Copy{
			Interface: "eth0", Gateways: []string{gwCtl}, Token: copyToken, ClientPool: labPool,
			Routes: []configs.Route{{From: onlineIP + ":8080", To: targetIP + ":8080"}},
		},
	}
}

// startGateway runs the fake gateway in the lab's gateway namespace with
// its TUN up and the pool routed into it; redirect adds the tc filter.
func (l *lab) startGateway(t *testing.T, redirect bool) *fakeGateway {
	t.Helper()
	var g *fakeGateway
	var err error
	l.in(t, "gw", func() { g, err = startFakeGateway(labToken) })
	if err != nil {
		t.Fatalf("fake gateway: %v", err)
	}
	t.Cleanup(g.Close)
	l.run(t, "gw", "ip", "link", "set", tunName, "up")
	l.run(t, "gw", "ip", "route", "add", labPool, "dev", tunName)
	if redirect {
		l.installRedirect(t)
	}
	return g
}

// startTarget listens on the target's service port.
func (l *lab) startTarget(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	l.in(t, "tg", func() { ln, err = net.Listen("tcp", targetIP+":8080") })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func (l *lab) copier(t *testing.T, cfg *configs.Config) []Check {
	t.Helper()
	var checks []Check
	l.in(t, "on", func() { checks = RunCopier(context.Background(), cfg) })
	logChecks(t, "copier", checks)
	return checks
}

func (l *lab) gateway(t *testing.T, cfg *configs.Config) []Check {
	t.Helper()
	var checks []Check
	l.in(t, "gw", func() { checks = RunGateway(context.Background(), cfg) })
	logChecks(t, "gateway", checks)
	return checks
}

func logChecks(t *testing.T, role string, checks []Check) {
	var b bytes.Buffer
	Print(&b, checks)
	t.Logf("%s doctor:\n%s", role, b.String())
}

// expect asserts the verdict of the check named name (prefix) and that its
// detail and fix contain the given strings.
func expect(t *testing.T, checks []Check, name, status, detail, fix string) Check {
	t.Helper()
	c, ok := Find(checks, name)
	if !ok {
		t.Fatalf("no check %q", name)
	}
	if c.Status != status || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Fix, fix) {
		t.Fatalf("check %q = %s %q fix %q; want %s, detail with %q, fix with %q", name, c.Status, c.Detail, c.Fix, status, detail, fix)
	}
	return c
}

func noFails(t *testing.T, checks []Check) {
	t.Helper()
	for _, c := range checks {
		if c.Status == Fail {
			t.Errorf("unexpected FAIL %s: %s (fix %q)", c.Name, c.Detail, c.Fix)
		}
	}
}

func TestRgDHealthyLab(t *testing.T) {
	l := newLab(t)
	g := l.startGateway(t, true)
	l.startTarget(t)
	cfg := labConfig(labToken)

	cc := l.copier(t, cfg)
	noFails(t, cc)
	expect(t, cc, "probe "+targetIP+":8080", Pass, "SYN-ACK", "")
	expect(t, cc, "gateway "+gwCtl, Pass, "token accepted", "")
	expect(t, cc, "rp_filter eth0", Pass, "off", "")
	if n := g.routesAdded.Load(); n != 1 {
		t.Errorf("gateway saw %d route registrations, want 1", n)
	}
	// The probe reset the target's half-open connection.
	time.Sleep(100 * time.Millisecond)
	if out := l.run(t, "tg", "ss", "-Htn", "state", "syn-recv"); strings.TrimSpace(out) != "" {
		t.Errorf("target keeps a half-open probe connection:\n%s", out)
	}

	gc := l.gateway(t, cfg)
	noFails(t, gc)
	expect(t, gc, "tun "+tunName, Pass, "with a reader", "")
	expect(t, gc, "route "+labPool, Pass, "into "+tunName, "")
	expect(t, gc, "pool "+labPool+" unused here", Pass, "no address or route", "")
	expect(t, gc, "redirect eth0", Pass, "tc ingress redirect", "")
	expect(t, gc, "leak", Pass, "forwarding is off", "")
	expect(t, gc, "control :36524", Pass, "accepts the token", "")
}

func TestRgDNoTargetRoute(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	l.startTarget(t)
	l.run(t, "tg", "ip", "route", "del", labPool)
	cfg := labConfig(labToken)

	c := expect(t, l.copier(t, cfg), "probe "+targetIP+":8080", Fail, "the SYN left via eth0",
		"on the target "+targetIP+": ip route add "+labPool+" via "+gwIP)
	// The fix, run on the target, makes the probe pass.
	first := strings.SplitN(c.Fix, "\n", 2)[0]
	cmd := strings.Fields(first[strings.Index(first, ": ")+2:])
	l.run(t, "tg", cmd...)
	expect(t, l.copier(t, cfg), "probe "+targetIP+":8080", Pass, "SYN-ACK", "")
}

func TestRgDStrictRPFilter(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	l.startTarget(t)
	l.sysctl(t, "on", "net.ipv4.conf.all.rp_filter", "1")
	l.sysctl(t, "gw", "net.ipv4.conf.eth0.rp_filter", "1")
	cfg := labConfig(labToken)

	cc := l.copier(t, cfg)
	expect(t, cc, "rp_filter eth0", Warn, "strict", "sysctl -w net.ipv4.conf.eth0.rp_filter=2")
	gc := l.gateway(t, cfg)
	expect(t, gc, "rp_filter eth0", Warn, "strict", "sysctl -w net.ipv4.conf.eth0.rp_filter=2")

	// With the TUN sender strict filtering on the send interface fails.
	cfg.Copy.Sender, cfg.Copy.SendInterface = "tun", "eth0"
	cc = l.copier(t, cfg)
	var strict []Check
	for _, c := range cc {
		if c.Name == "rp_filter eth0" {
			strict = append(strict, c)
		}
	}
	if len(strict) != 2 || strict[1].Status != Fail || strict[1].Fix != "sysctl -w net.ipv4.conf.eth0.rp_filter=2" {
		t.Fatalf("tun sender rp_filter checks: %+v", strict)
	}

	// The fix (loose on the interface) overrides all=1.
	l.sysctl(t, "on", "net.ipv4.conf.eth0.rp_filter", "2")
	expect(t, l.copier(t, cfg), "rp_filter eth0", Pass, "loose", "")
}

func TestRgDGatewayStopped(t *testing.T) {
	l := newLab(t)
	g := l.startGateway(t, true)
	l.startTarget(t)
	g.Close()
	cfg := labConfig(labToken)

	cc := l.copier(t, cfg)
	expect(t, cc, "gateway "+gwCtl, Fail, "connection refused", "on "+gwIP+": sudo replaygw up")
	expect(t, cc, "probe", Fail, "no gateway connected", "")

	gc := l.gateway(t, cfg)
	expect(t, gc, "tun "+tunName, Fail, "does not exist", "sudo replaygw up")
	expect(t, gc, "route "+labPool, Fail, "no route", "sudo replaygw up")
	expect(t, gc, "redirect eth0", Fail, "no TUN rgw0", "sudo replaygw up")
	expect(t, gc, "control :36524", Fail, "connection refused", "sudo replaygw up")
}

func TestRgDWrongToken(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	cfg := labConfig("not-the-token")
	cc := l.copier(t, cfg)
	expect(t, cc, "gateway "+gwCtl, Fail, "rejected the token", "set [copy].token to the gateway's [gateway].token")
	expect(t, cc, "probe", Fail, "no gateway connected", "")
	// The gateway side with a different token than the running gateway.
	cfg.Gateway.Token = "other"
	expect(t, l.gateway(t, cfg), "control :36524", Fail, "started with another config", "sudo replaygw down && sudo replaygw up")
}

// A pool this host also uses: an address inside it fails, a route inside it
// warns, a broader route around it (the usual private-space route) passes.
func TestRgDPoolOverlap(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	cfg := labConfig(labToken)
	name := "pool " + labPool + " unused here"

	expect(t, l.gateway(t, cfg), name, Pass, "no address or route", "")
	l.run(t, "gw", "ip", "route", "add", "10.0.0.0/8", "via", targetIP)
	expect(t, l.gateway(t, cfg), name, Pass, "no address or route", "")
	l.run(t, "gw", "ip", "route", "add", "10.88.0.64/26", "via", targetIP)
	expect(t, l.gateway(t, cfg), name, Warn, "route 10.88.0.64/26 via eth0 gateway "+targetIP+" lies in the pool", "choose a client_pool")
	l.run(t, "gw", "ip", "route", "del", "10.88.0.64/26")
	l.run(t, "gw", "ip", "addr", "add", "10.88.0.7/32", "dev", "eth0")
	expect(t, l.gateway(t, cfg), name, Fail, "address 10.88.0.7 on eth0 is inside the pool", "choose a client_pool")
}

func TestRgDForwardingLeak(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, false) // no tc redirect
	l.startTarget(t)
	l.sysctl(t, "gw", "net.ipv4.ip_forward", "1")
	cfg := labConfig(labToken)

	gc := l.gateway(t, cfg)
	expect(t, gc, "leak", Fail, "responses may be forwarded to real clients", "sysctl -w net.ipv4.ip_forward=0")
	expect(t, gc, "redirect eth0", Pass, "forwarding is on", "")
	// Forwarding does carry the responses into the TUN meanwhile.
	expect(t, l.copier(t, cfg), "probe", Pass, "SYN-ACK", "")
}

func TestRgDNoRedirect(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, false)
	l.startTarget(t)
	cfg := labConfig(labToken)

	gc := l.gateway(t, cfg)
	c := expect(t, gc, "redirect eth0", Fail, "dropped before the TUN",
		"tc filter add dev eth0 ingress protocol ip u32 match ip dst "+labPool+" action mirred egress redirect dev "+tunName)
	expect(t, gc, "leak", Pass, "", "")
	expect(t, l.copier(t, cfg), "probe", Fail, "the SYN left via eth0", "ip route add")

	// Running the fix's tc commands repairs the path.
	for _, line := range strings.Split(c.Fix, "\n") {
		if strings.HasPrefix(line, "tc ") {
			l.run(t, "gw", strings.Fields(line)...)
		}
	}
	expect(t, l.gateway(t, cfg), "redirect eth0", Pass, "tc ingress redirect", "")
	expect(t, l.copier(t, cfg), "probe", Pass, "SYN-ACK", "")
}

func TestRgDSpoofedSYNDropped(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	l.startTarget(t)
	// A local egress filter that diverts pool-sourced packets away from
	// eth0 (into lo, where they die), like an anti-spoofing rule. (act_gact
	// "drop" may be unavailable in containers; mirred is needed anyway.)
	l.run(t, "on", "tc", "qdisc", "add", "dev", "eth0", "clsact")
	l.run(t, "on", "tc", "filter", "add", "dev", "eth0", "egress", "protocol", "ip", "u32",
		"match", "ip", "src", labPool, "action", "mirred", "egress", "redirect", "dev", "lo")
	c := expect(t, l.copier(t, labConfig(labToken)), "probe", Fail, "", "")
	if !strings.Contains(c.Detail, "NOT seen leaving via eth0") && !strings.Contains(c.Detail, "could not send the SYN") {
		t.Fatalf("verdict does not say the SYN did not leave: %q", c.Detail)
	}
	if strings.Contains(c.Fix, "ip route add") {
		t.Errorf("fix blames the target's route although the SYN never left: %q", c.Fix)
	}
}

func TestRgDMTU(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	l.startTarget(t)
	cfg := labConfig(labToken)
	cfg.Copy.MSS = 1480
	expect(t, l.copier(t, cfg), "mtu", Warn, "[copy].mss 1480 needs 1520-byte packets", "set [copy].mss = 1460")
	l.run(t, "gw", "ip", "link", "set", tunName, "mtu", "1400")
	expect(t, l.gateway(t, cfg), "mtu", Warn, "TUN rgw0 MTU is 1400", "set [gateway].mtu = 1500")
}

func TestRgDTUNDownAndRouteMissing(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	cfg := labConfig(labToken)
	l.run(t, "gw", "ip", "link", "set", tunName, "down") // also drops the pool route
	gc := l.gateway(t, cfg)
	c := expect(t, gc, "tun "+tunName, Fail, "is down", "ip link set "+tunName+" up")
	l.run(t, "gw", strings.Fields(c.Fix)...)
	c = expect(t, l.gateway(t, cfg), "route "+labPool, Fail, "no route", "ip route replace "+labPool+" dev "+tunName)
	l.run(t, "gw", strings.Fields(c.Fix)...)
	noFails(t, l.gateway(t, cfg))
}

func TestRgDTargetNotListening(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	expect(t, l.copier(t, labConfig(labToken)), "probe "+targetIP+":8080", Fail,
		"answered the SYN with a reset", "start the service on "+targetIP+":8080")
}

func TestRgDTargetUnreachable(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	cfg := labConfig(labToken)
	cfg.Copy.Routes = []configs.Route{{From: onlineIP + ":8080", To: "10.99.0.99:8080"}} // nobody there
	expect(t, l.copier(t, cfg), "probe 10.99.0.99:8080", Fail, "next hop 10.99.0.99 is", "make 10.99.0.99 reachable")
}

// The classic tcpcopy complaint: the target receives the SYN on one
// interface but routes the pool out of another, and strict rp_filter drops
// the SYN. The probe sees the SYN leave, no answer, and the fix names the
// rp_filter setting for the target.
func TestRgDTargetStrictRPFilter(t *testing.T) {
	l := newLab(t)
	l.startGateway(t, true)
	l.startTarget(t)
	// A second, direct link target eth1 <-> gateway eth1 carries the
	// target's route to the pool.
	l.run(t, "tg", "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", l.ns("gw"))
	l.run(t, "tg", "ip", "addr", "add", "10.98.0.30/24", "dev", "eth1")
	l.run(t, "tg", "ip", "link", "set", "eth1", "up")
	l.run(t, "gw", "ip", "addr", "add", "10.98.0.40/24", "dev", "eth1")
	l.run(t, "gw", "ip", "link", "set", "eth1", "up")
	l.run(t, "gw", "tc", "qdisc", "add", "dev", "eth1", "clsact")
	l.run(t, "gw", "tc", "filter", "add", "dev", "eth1", "ingress", "protocol", "ip", "u32",
		"match", "ip", "dst", labPool, "action", "mirred", "egress", "redirect", "dev", tunName)
	l.run(t, "tg", "ip", "route", "replace", labPool, "via", "10.98.0.40", "dev", "eth1")
	l.sysctl(t, "tg", "net.ipv4.conf.all.rp_filter", "1")
	l.sysctl(t, "tg", "net.ipv4.conf.eth0.rp_filter", "1")
	cfg := labConfig(labToken)

	c := expect(t, l.copier(t, cfg), "probe", Fail, "the SYN left via eth0", "sysctl -w net.ipv4.conf.all.rp_filter=2 (on the target)")
	for _, line := range strings.Split(c.Fix, "\n") {
		if i := strings.Index(line, "sysctl -w"); i >= 0 {
			l.run(t, "tg", strings.Fields(strings.TrimSuffix(line[i:], " (on the target)"))...)
		}
	}
	expect(t, l.copier(t, cfg), "probe", Pass, "SYN-ACK", "")
}
