package absorb

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/replaygw/replaygw/lab/netns"
	"github.com/replaygw/replaygw/tunnel"
	"github.com/replaygw/replaygw/wire"
)

// nsPrefix starts the name of every namespace and link the stack tests
// create (see netns.NewPair).
const nsPrefix = "rgT"

// rawSend sends complete IP packets (header included) from namespace ns.
func rawSend(t *testing.T, ns string, pkts ...[]byte) {
	t.Helper()
	netns.InNS(t, ns, func() error {
		for _, p := range pkts {
			var err error
			if p[0]>>4 == 4 {
				var fd int
				if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
					return err
				}
				err = unix.Sendto(fd, p, 0, &unix.SockaddrInet4{Addr: [4]byte(p[16:20])})
				unix.Close(fd)
			} else {
				var fd int
				if fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW); err != nil {
					return err
				}
				err = unix.Sendto(fd, p, 0, &unix.SockaddrInet6{Addr: [16]byte(p[24:40])})
				unix.Close(fd)
			}
			if err != nil {
				return fmt.Errorf("raw send: %w", err)
			}
		}
		return nil
	})
}

// leakWatch counts packets to the pools that the gateway transmits on its
// LAN interface (AF_PACKET, PACKET_OUTGOING). It must stay 0.
type leakWatch struct {
	fd    int
	n     atomic.Uint64
	done  chan struct{}
	pools []netip.Prefix
}

func watchLeaks(t *testing.T, ns, ifname string, pools []netip.Prefix) *leakWatch {
	t.Helper()
	w := &leakWatch{done: make(chan struct{}), pools: pools}
	netns.InNS(t, ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := uint16(unix.ETH_P_ALL<<8&0xff00 | unix.ETH_P_ALL>>8)
		if w.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM, int(proto)); err != nil {
			return err
		}
		unix.SetsockoptTimeval(w.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
		return unix.Bind(w.fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
	})
	go func() {
		defer close(w.done)
		buf := make([]byte, 65536)
		for {
			n, from, err := unix.Recvfrom(w.fd, buf, 0)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			ll, ok := from.(*unix.SockaddrLinklayer)
			if !ok || ll.Pkttype != unix.PACKET_OUTGOING || n < 20 {
				continue
			}
			var dst netip.Addr
			if buf[0]>>4 == 4 {
				dst = netip.AddrFrom4([4]byte(buf[16:20]))
			} else if n >= 40 {
				dst = netip.AddrFrom16([16]byte(buf[24:40]))
			}
			for _, p := range w.pools {
				if p.Contains(dst) {
					w.n.Add(1)
				}
			}
		}
	}()
	return w
}

func (w *leakWatch) stop() uint64 {
	unix.Shutdown(w.fd, unix.SHUT_RDWR)
	unix.Close(w.fd)
	<-w.done
	return w.n.Load()
}

func TestGatewayNetns(t *testing.T) {
	for _, tc := range []struct{ fwd, redirect string }{
		{"0", tunnel.RedirectAuto}, {"1", tunnel.RedirectAuto}, {"0", tunnel.RedirectForwarding},
	} {
		fwd := tc.fwd
		t.Run("ip_forward="+fwd+"/"+tc.redirect, func(t *testing.T) {
			v4 := netip.MustParsePrefix("10.88.3.0/24")
			v6 := netip.MustParsePrefix("fd88::/120")
			pools := []netip.Prefix{v4, v6}
			l := netns.NewPair(t, nsPrefix, v4.String(), v6.String())
			netns.SetSysctl(t, l.GW, "net/ipv4/ip_forward", fwd)
			netns.SetSysctl(t, l.GW, "net/ipv6/conf/all/forwarding", fwd)
			tunName := l.Link("u")
			stateDir := t.TempDir()

			var tun *tunnel.Tunnel
			netns.InNS(t, l.GW, func() (err error) {
				tun, err = tunnel.Open(tunnel.Config{Name: tunName, Queues: 2, Pools: pools, Ingress: l.VethG, Redirect: tc.redirect, StateDir: stateDir})
				return err
			})
			t.Cleanup(func() { netns.InNS(t, l.GW, tun.Close) })
			wantMode := tunnel.RedirectTC // auto prefers tc
			if tc.redirect == tunnel.RedirectForwarding {
				wantMode = tunnel.RedirectForwarding
			}
			if tun.RedirectMode() != wantMode {
				t.Fatalf("redirect mode %s, want %s", tun.RedirectMode(), wantMode)
			}
			var rec recorder
			s, err := New(Config{Queues: tun.Queues(), PayloadCap: 16}, rec.handle)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			leaks := watchLeaks(t, l.GW, l.VethG, pools)

			// A real TCP server in the target namespace answers SYNs that a
			// raw socket sends from pool addresses: its SYN-ACKs go to the
			// pool, through the gateway.
			var ln net.Listener
			netns.InNS(t, l.Tgt, func() (err error) {
				ln, err = net.Listen("tcp", ":8080")
				return err
			})
			t.Cleanup(func() { ln.Close() })
			tgtIP4 := netip.MustParseAddr(l.TgtIP4)
			synOpts := []byte{2, 4, 0x05, 0x78, 4, 2, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 1, 3, 3, 6}
			syn4 := tcpPacket(tcpSpec{src: netip.AddrPortFrom(netip.MustParseAddr("10.88.3.5"), 40001),
				dst: netip.AddrPortFrom(tgtIP4, 8080), seq: 1000, flags: header.TCPFlagSyn, window: 64240, opts: synOpts})
			syn6 := tcpPacket(tcpSpec{src: netip.MustParseAddrPort("[fd88::5]:40002"),
				dst: netip.MustParseAddrPort("[fd7a::2]:8080"), seq: 5000, flags: header.TCPFlagSyn, window: 64240, opts: synOpts})
			tgt6 := netip.MustParseAddrPort("[fd7a::2]:9999")
			rawSend(t, l.Tgt, syn4, syn6,
				udpPacket(netip.AddrPortFrom(tgtIP4, 9999), netip.MustParseAddrPort("10.88.3.6:53"), []byte("u4")),
				udpPacket(tgt6, netip.MustParseAddrPort("[fd88::6]:53"), []byte("u6")),
				echoRequest(tgtIP4, netip.MustParseAddr("10.88.3.7"), 1, 1, []byte("p4")),
				echoRequest(tgt6.Addr(), netip.MustParseAddr("fd88::7"), 1, 1, []byte("p6")),
			)

			waitFor(t, "SYN-ACK records", func() bool {
				var n4, n6 bool
				for _, r := range rec.snapshot() {
					n4 = n4 || r.Ack == 1001
					n6 = n6 || r.Ack == 5001
				}
				return n4 && n6
			})
			waitFor(t, "UDP and ICMP in the stack", func() bool {
				st := s.Stats()
				return st.UDPAbsorbed.Load() >= 2 && st.ICMPAbsorbed.Load() >= 2
			})
			time.Sleep(200 * time.Millisecond)
			for _, r := range rec.snapshot() {
				if r.Flags != wire.FlagSYN|wire.FlagACK {
					t.Errorf("record flags %#x, want SYN|ACK: %+v", r.Flags, r)
					continue
				}
				wantClient := "10.88.3.5:40001"
				if r.Ack == 5001 {
					wantClient = "[fd88::5]:40002"
				}
				if r.Tuple.Client.String() != wantClient || r.Tuple.Target.Port() != 8080 {
					t.Errorf("record tuple %v, want client %s", r.Tuple, wantClient)
				}
				o := r.Opts
				if o.Has != wire.OptMSS|wire.OptWScale|wire.OptSACKPermitted|wire.OptTimestamp || o.TSEcr != 12345 || o.MSS == 0 {
					t.Errorf("SYN-ACK options %+v", o)
				}
			}
			st := s.Stats()
			if st.WritesAttempted.Load() != 0 || st.WritesAllowed.Load() != 0 {
				t.Errorf("writes_attempted %d, writes_allowed %d, want 0", st.WritesAttempted.Load(), st.WritesAllowed.Load())
			}
			if st.Malformed.Load() != 0 {
				t.Errorf("malformed = %d", st.Malformed.Load())
			}
			if n := leaks.n.Load(); n != 0 {
				t.Errorf("%d packets to the pool left the gateway's LAN side", n)
			}
			// Control: the watcher does see a pool-bound packet that really
			// leaves (a /32 routed back to the target, sent from the gateway).
			leakDst := "10.88.3.200"
			netns.Sh(t, "ip", "-n", l.GW, "route", "add", leakDst+"/32", "via", l.TgtIP4)
			rawSend(t, l.GW, udpPacket(netip.MustParseAddrPort(l.GWIP4+":9"), netip.MustParseAddrPort(leakDst+":9"), []byte("leak")))
			waitFor(t, "the control leak to be seen", func() bool { return leaks.n.Load() == 1 })
			leaks.stop()
			netns.Sh(t, "ip", "-n", l.GW, "route", "del", leakDst+"/32")
			t.Logf("stats: %v", st.Counters())

			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			netns.InNS(t, l.GW, tun.Close)
			if exec.Command("ip", "-n", l.GW, "link", "show", tunName).Run() == nil {
				t.Error("TUN left after Close")
			}
			if r := netns.Sh(t, "ip", "-n", l.GW, "route", "show", v4.String()); strings.TrimSpace(r) != "" {
				t.Errorf("route left: %q", r)
			}
			if q := netns.Sh(t, "tc", "-n", l.GW, "qdisc", "show", "dev", l.VethG); strings.Contains(q, "clsact") {
				t.Errorf("qdisc left: %q", q)
			}
			if f := netns.Sh(t, "tc", "-n", l.GW, "filter", "show", "dev", l.VethG, "ingress"); strings.TrimSpace(f) != "" {
				t.Errorf("filter left: %q", f)
			}
			for _, key := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/" + l.VethG + "/forwarding", "net/ipv6/conf/" + l.VethG + "/force_forwarding"} {
				want := fwd
				if strings.HasSuffix(key, "force_forwarding") {
					want = "0"
				}
				if v := netns.Sysctl(t, l.GW, key); v != want {
					t.Errorf("%s = %s after Close, want %s", key, v, want)
				}
			}
			if _, err := os.Stat(stateDir + "/" + tunName + ".json"); !os.IsNotExist(err) {
				t.Errorf("state file left: %v", err)
			}
		})
	}
}
