package integration

// Lab checks of the gateway (issue 2) through the real binary: the
// target's SYN-ACKs to pool addresses are absorbed with ip_forward off and
// on, unauthenticated or foreign-version peers are refused, and `up` leaves
// nothing behind after SIGTERM, or after SIGKILL once `replaygw down` (or
// the next `up`) has run.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"

	"github.com/replaygw/replaygw/lab"
	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
)

// TestGatewayLifecycle runs `replaygw up` several times in one lab:
// forwarding off, then on; stopped by SIGTERM, by SIGKILL followed by
// `replaygw down`, and by SIGKILL followed directly by a new `up`.
func TestGatewayLifecycle(t *testing.T) {
	bin := needBinary(t, "up", "down")
	l := newOpsLab(t)
	cfg := newOpsConfig(t, l, t.TempDir())
	listenID(t, l, lab.Target) // the target answers SYNs with SYN-ACKs
	clean := gatewayState(t, l, cfg.TUN)
	port := uint16(40000)

	t.Run("ip_forward=0", func(t *testing.T) {
		gw := startRole(t, l, lab.Assistant, bin, "up", "--config", cfg.gwPath)
		absorbSynAcks(t, l, cfg, &port)
		refusesPeers(t, l, cfg)
		if err := gw.Stop(5 * time.Second); err != nil {
			t.Errorf("up did not exit cleanly on SIGTERM: %v", err)
		}
		assertState(t, "after SIGTERM", clean, gatewayState(t, l, cfg.TUN))
	})

	if err := l.Sysctl(lab.Assistant, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	clean = gatewayState(t, l, cfg.TUN)

	t.Run("ip_forward=1, SIGKILL then down", func(t *testing.T) {
		gw := startRole(t, l, lab.Assistant, bin, "up", "--config", cfg.gwPath)
		absorbSynAcks(t, l, cfg, &port)
		gw.Cmd.Process.Kill()
		<-gw.Done()
		stale := gatewayState(t, l, cfg.TUN)
		if stale.String() == clean.String() {
			t.Fatalf("a SIGKILLed up left nothing behind: the down check below would be vacuous:\n%s", stale)
		}
		t.Logf("left by a SIGKILLed up:\n%s", stale.diff(clean))
		out, err := l.Exec(lab.Assistant, bin, "down", "--config", cfg.gwPath).CombinedOutput()
		if err != nil {
			t.Fatalf("down: %v: %s", err, out)
		}
		assertState(t, "after SIGKILL and down", clean, gatewayState(t, l, cfg.TUN))
	})

	t.Run("ip_forward=1, up after a crash", func(t *testing.T) {
		gw := startRole(t, l, lab.Assistant, bin, "up", "--config", cfg.gwPath)
		gw.Cmd.Process.Kill()
		<-gw.Done()
		gw = startRole(t, l, lab.Assistant, bin, "up", "--config", cfg.gwPath)
		absorbSynAcks(t, l, cfg, &port)
		if err := gw.Stop(5 * time.Second); err != nil {
			t.Errorf("up did not exit cleanly on SIGTERM: %v", err)
		}
		assertState(t, "after a crash, a new up and SIGTERM", clean, gatewayState(t, l, cfg.TUN))
	})
}

// absorbSynAcks makes the target send SYN-ACKs to pool addresses (spoofed
// SYNs from the online host) and checks the gateway absorbs them all:
// received on the assistant, nothing sent out of its LAN side, nothing
// written into the TUN, nothing seen by the client or online host.
func absorbSynAcks(t *testing.T, l *lab.Lab, cfg *opsConfig, port *uint16) {
	t.Helper()
	pools := []netip.Prefix{l.Pool, l.Pool6}
	var counters []*lab.PacketCounter
	for _, h := range []lab.Host{lab.Assistant, lab.Client, lab.Online} {
		pc, err := l.NewPacketCounter(h, lab.Iface, pools...)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		counters = append(counters, pc)
	}
	assistant := counters[0]
	before, err := scrapeMetrics(l, lab.Assistant)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	target := netip.AddrPortFrom(l.Addr(lab.Target), 80)
	err = l.Do(lab.Online, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		defer unix.Close(fd)
		for i := range n {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 88, 0, byte(1 + i%200)}), *port)
			*port++
			sa := &unix.SockaddrInet4{Addr: target.Addr().As4()}
			if err := unix.Sendto(fd, synPacket(src, target), 0, sa); err != nil {
				return fmt.Errorf("send SYN from %s: %w", src, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var after map[string]float64
	lab.WaitFor(t, 3*time.Second, func() bool {
		after, err = scrapeMetrics(l, lab.Assistant)
		return err == nil && assistant.Stats.In.Load() >= n &&
			after[`replaygw_tun_absorbed_total{proto="tcp"}`]-before[`replaygw_tun_absorbed_total{proto="tcp"}`] >= n
	})
	time.Sleep(200 * time.Millisecond) // let any wrongly forwarded packet show up
	if after, err = scrapeMetrics(l, lab.Assistant); err != nil {
		t.Fatal(err)
	}
	absorbed := after[`replaygw_tun_absorbed_total{proto="tcp"}`] - before[`replaygw_tun_absorbed_total{proto="tcp"}`]
	t.Logf("%d SYNs: assistant received %d pool-bound packets, sent %d; gateway absorbed %v TCP segments, TUN writes attempted %v",
		n, assistant.Stats.In.Load(), assistant.Stats.Out.Load(), absorbed, after["replaygw_tun_writes_attempted_total"])
	if got := assistant.Stats.In.Load(); got < n {
		t.Errorf("assistant received %d pool-bound packets, want >= %d SYN-ACKs", got, n)
	}
	if absorbed < n {
		t.Errorf("gateway absorbed %v TCP segments, want >= %d", absorbed, n)
	}
	if got := assistant.Stats.Out.Load(); got != 0 {
		t.Errorf("assistant sent %d pool-bound packets out of its LAN side", got)
	}
	if got := after["replaygw_tun_writes_attempted_total"]; got != 0 {
		t.Errorf("gateway attempted %v writes into the TUN", got)
	}
	if rx, _, err := l.LinkStats(lab.Assistant, cfg.TUN); err != nil || rx != 0 {
		t.Errorf("TUN %s received %d packets from the gateway (%v)", cfg.TUN, rx, err)
	}
	if got := counters[1].Matched() + counters[2].Matched(); got != 0 {
		t.Errorf("client/online saw %d pool-bound packets", got)
	}
}

// synPacket builds an IPv4 TCP SYN from src to dst.
func synPacket(src, dst netip.AddrPort) []byte {
	s := pkt.Segment{Src: src, Dst: dst, Seq: seqnum.Value(uint32(src.Port()) << 16), Flags: header.TCPFlagSyn, Window: 64240}
	b := make([]byte, s.Size())
	if _, err := pkt.Build(b, &s); err != nil {
		panic(err)
	}
	return b
}

// refusesPeers dials the gateway's control port from the online host: the
// right token is accepted (so the refusals below are meaningful), a wrong
// token and a hello of protocol version 99 are refused.
func refusesPeers(t *testing.T, l *lab.Lab, cfg *opsConfig) {
	t.Helper()
	d, err := l.Dialer(lab.Online)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *wire.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", cfg.Gateway)
		if err != nil {
			t.Fatalf("dial the gateway's control port %s: %v", cfg.Gateway, err)
		}
		return wire.NewConn(c)
	}
	before, err := scrapeMetrics(l, lab.Assistant)
	if err != nil {
		t.Fatal(err)
	}

	c := dial()
	if _, err := wire.Handshake(c, wire.Hello{Role: wire.RoleCopier, Name: "rgP-right"}, []byte(cfg.Token), 5*time.Second); err != nil {
		t.Errorf("handshake with the right token: %v", err)
	}
	c.Close()

	c = dial()
	_, err = wire.Handshake(c, wire.Hello{Role: wire.RoleCopier, Name: "rgP-wrong"}, []byte("wrong-"+cfg.Token), 5*time.Second)
	c.Close()
	var pe *wire.PeerError
	switch {
	case err == nil:
		t.Error("handshake with a wrong token succeeded")
	case errors.Is(err, wire.ErrAuth), errors.As(err, &pe) && pe.Code == wire.CodeAuth:
		t.Logf("wrong token refused: %v", err)
	default:
		t.Errorf("wrong token: %v, want an authentication failure", err)
	}

	c = dial()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteFrame(wire.TypeHello, wire.AppendHello(nil, &wire.Hello{Version: 99, Role: wire.RoleCopier, Name: "rgP-v99"})); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	var refusal *wire.PeerError
	for range 3 {
		typ, body, err := c.ReadFrame()
		if err != nil {
			break
		}
		if typ == wire.TypeError {
			refusal = wire.DecodeError(body)
			break
		}
		if typ != wire.TypeHello {
			t.Errorf("version 99 peer got a %s frame", typ)
		}
	}
	c.Close()
	if refusal == nil || refusal.Code != wire.CodeVersion {
		t.Errorf("version 99 hello: refusal %v, want an error frame with code %d (version)", refusal, wire.CodeVersion)
	} else {
		t.Logf("version 99 refused: %v", refusal)
	}

	var after map[string]float64
	lab.WaitFor(t, 2*time.Second, func() bool {
		after, err = scrapeMetrics(l, lab.Assistant)
		return err == nil && after[`replaygw_gateway_handshakes_failed_total{reason="token"}`] > before[`replaygw_gateway_handshakes_failed_total{reason="token"}`] &&
			after[`replaygw_gateway_handshakes_failed_total{reason="version"}`] > before[`replaygw_gateway_handshakes_failed_total{reason="version"}`]
	})
	for _, name := range []string{`replaygw_gateway_handshakes_failed_total{reason="token"}`, `replaygw_gateway_handshakes_failed_total{reason="version"}`} {
		if after[name] != before[name]+1 {
			t.Errorf("%s went from %v to %v, want +1", name, before[name], after[name])
		}
	}
}

// gwState is what a gateway may change in the assistant namespace.
type gwState struct {
	lines []string // sorted "kind: text" entries
}

func (s gwState) String() string { return strings.Join(s.lines, "\n") }

// diff lists the entries of s not in base and those of base missing in s.
func (s gwState) diff(base gwState) string {
	in := func(l []string, v string) bool {
		i := sort.SearchStrings(l, v)
		return i < len(l) && l[i] == v
	}
	var out []string
	for _, v := range s.lines {
		if !in(base.lines, v) {
			out = append(out, "+ "+v)
		}
	}
	for _, v := range base.lines {
		if !in(s.lines, v) {
			out = append(out, "- "+v)
		}
	}
	return strings.Join(out, "\n")
}

// gatewayState snapshots the assistant's TUN, routes, tc qdiscs and
// filters on the LAN interface, and the forwarding and reverse-path
// sysctls, plus the gateway's state file.
func gatewayState(t *testing.T, l *lab.Lab, tun string) gwState {
	t.Helper()
	var lines []string
	add := func(kind string, out []byte) {
		for line := range strings.Lines(string(out)) {
			// IPv6 link-local routes appear when the fresh lab's DAD
			// completes, whatever the gateway does.
			if line = strings.TrimSpace(line); line != "" && !strings.Contains(line, "fe80:") {
				lines = append(lines, kind+": "+line)
			}
		}
	}
	for _, c := range []struct {
		kind string
		args []string
	}{
		{"link", []string{"ip", "-o", "link", "show", "type", "tun"}},
		{"route4", []string{"ip", "-4", "route", "show", "table", "all"}},
		{"route6", []string{"ip", "-6", "route", "show", "table", "all"}},
		{"qdisc", []string{"tc", "qdisc", "show", "dev", lab.Iface}},
		{"filter-ingress", []string{"tc", "filter", "show", "dev", lab.Iface, "ingress"}},
		{"filter-egress", []string{"tc", "filter", "show", "dev", lab.Iface, "egress"}},
	} {
		out, err := l.Exec(lab.Assistant, c.args...).CombinedOutput()
		if err != nil && c.kind != "filter-ingress" && c.kind != "filter-egress" {
			t.Fatalf("%v: %v: %s", c.args, err, out)
		}
		add(c.kind, out)
	}
	err := l.Do(lab.Assistant, func() error {
		for _, dir := range []string{"/proc/sys/net/ipv4/conf", "/proc/sys/net/ipv6/conf"} {
			for _, dev := range []string{"all", "default", lab.Iface, "lo"} {
				ents, err := os.ReadDir(filepath.Join(dir, dev))
				if err != nil {
					return err
				}
				for _, e := range ents {
					if !strings.Contains(e.Name(), "forward") && !strings.Contains(e.Name(), "rp_filter") &&
						!strings.Contains(e.Name(), "accept_local") && !strings.Contains(e.Name(), "route_localnet") {
						continue
					}
					b, err := os.ReadFile(filepath.Join(dir, dev, e.Name()))
					if err == nil {
						lines = append(lines, fmt.Sprintf("sysctl: %s/%s/%s = %s", filepath.Base(filepath.Dir(dir)), dev, e.Name(), strings.TrimSpace(string(b))))
					}
				}
			}
		}
		for _, k := range []string{"net/ipv4/ip_forward"} {
			b, err := os.ReadFile("/proc/sys/" + k)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("sysctl: %s = %s", k, strings.TrimSpace(string(b))))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The state file is named after the TUN and the namespace.
	if m, _ := filepath.Glob(filepath.Join("/run/replaygw", tun+".*json")); len(m) > 0 {
		lines = append(lines, "statefile: "+tun)
	}
	sort.Strings(lines)
	return gwState{lines}
}

// assertState fails when the assistant's state differs from the clean
// snapshot.
func assertState(t *testing.T, when string, clean, got gwState) {
	t.Helper()
	if d := got.diff(clean); d != "" {
		t.Errorf("%s, the assistant namespace differs from before `up`:\n%s", when, d)
	}
}
