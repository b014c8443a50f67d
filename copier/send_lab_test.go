package copier

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/replaygw/replaygw/capture"
	"github.com/replaygw/replaygw/lab/netns"
)

// sndLab is the senders' test network: namespace C (the copier,
// 10.252.0.1 / fd00:252::1 on vC) joined by a veth pair to namespace T (the
// target, .2 / ::2 on vT, MAC 02:00:00:00:01:0b) with a TCP listener on port
// 8080 and a route for the client pool (10.88.0.0/24, fd00:88::/64) back
// through C. The sink addresses (10.252.0.77, fd00:252::77) have a
// neighbour entry in C with a MAC nobody owns: T drops their frames at once
// (not for its MAC), a cheap discard for benchmarks.
type sndLab struct {
	id         string // netns.Unique(sndPrefix); every name starts with it
	nsC, nsT   string
	vC, vT     string
	macT       net.HardwareAddr
	listenerT4 net.Listener
	listenerT6 net.Listener
}

// sndPrefix starts the name of every namespace and link the sender tests
// create (see netns.Unique).
const sndPrefix = "rgC"

var (
	sndTarget4 = netip.MustParseAddrPort("10.252.0.2:8080")
	sndTarget6 = netip.MustParseAddrPort("[fd00:252::2]:8080")
	sndPool4   = netip.MustParseAddr("10.88.0.7")
	sndPool6   = netip.MustParseAddr("fd00:88::7")
	sndSink4   = netip.MustParseAddrPort("10.252.0.77:9")
	sndSink6   = netip.MustParseAddrPort("[fd00:252::77]:9")
	sndSinkMAC = net.HardwareAddr{2, 0, 0, 0, 1, 0x99}
)

func newSndLab(t testing.TB) *sndLab {
	t.Helper()
	netns.RequireRoot(t)
	netns.RemoveStale(sndPrefix)
	id := netns.Unique(sndPrefix)
	l := &sndLab{
		id: id, nsC: id + "-c", nsT: id + "-t", vC: id + "C", vT: id + "T",
		macT: net.HardwareAddr{2, 0, 0, 0, 1, 0x0b},
	}
	for _, ns := range []string{l.nsC, l.nsT} {
		netns.Add(t, ns)
		// No duplicate address detection: link-local addresses usable at
		// once, so neighbour discovery answers immediately.
		netns.SetSysctl(t, ns, "net.ipv6.conf.default.accept_dad", "0")
		netns.SetSysctl(t, ns, "net.ipv6.conf.all.accept_dad", "0")
	}
	netns.Veth(t,
		netns.End{NS: l.nsC, Dev: l.vC, MAC: "02:00:00:00:01:0a", Addrs: []string{"10.252.0.1/24", "fd00:252::1/64"}},
		netns.End{NS: l.nsT, Dev: l.vT, MAC: l.macT.String(), Addrs: []string{"10.252.0.2/24", "fd00:252::2/64"}})
	netns.Sh(t, "ip", "-n", l.nsT, "route", "add", "10.88.0.0/24", "via", "10.252.0.1")
	netns.Sh(t, "ip", "-n", l.nsT, "route", "add", "fd00:88::/64", "via", "fd00:252::1")
	for _, a := range []string{sndSink4.Addr().String(), sndSink6.Addr().String()} {
		netns.Sh(t, "ip", "-n", l.nsC, "neigh", "replace", a, "lladdr", sndSinkMAC.String(), "dev", l.vC, "nud", "permanent")
	}
	netns.InNS(t, l.nsT, func() (err error) {
		if l.listenerT4, err = net.Listen("tcp4", sndTarget4.String()); err != nil {
			return err
		}
		if l.listenerT6, err = net.Listen("tcp6", sndTarget6.String()); err != nil {
			l.listenerT4.Close()
		}
		return err
	})
	t.Cleanup(func() { l.listenerT4.Close(); l.listenerT6.Close() })
	return l
}

// sndSYN builds a TCP SYN with valid checksums (and IPv4 ID 1).
func sndSYN(src, dst netip.AddrPort, seq uint32) []byte {
	opts := []byte{header.TCPOptionMSS, 4, 0x05, 0xb4}
	tcpLen := header.TCPMinimumSize + len(opts)
	ipLen := header.IPv4MinimumSize
	if src.Addr().Is6() {
		ipLen = header.IPv6MinimumSize
	}
	b := make([]byte, ipLen+tcpLen)
	s, d := tcpip.AddrFromSlice(src.Addr().AsSlice()), tcpip.AddrFromSlice(dst.Addr().AsSlice())
	if src.Addr().Is6() {
		header.IPv6(b).Encode(&header.IPv6Fields{PayloadLength: uint16(tcpLen), TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: s, DstAddr: d})
	} else {
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), ID: 1, Flags: header.IPv4FlagDontFragment, TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: s, DstAddr: d})
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	tcp := header.TCP(b[ipLen:])
	tcp.Encode(&header.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), SeqNum: seq, DataOffset: uint8(tcpLen), Flags: header.TCPFlagSyn, WindowSize: 64240})
	copy(tcp[header.TCPMinimumSize:], opts)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, s, d, uint16(tcpLen))
	tcp.SetChecksum(^tcp.CalculateChecksum(checksum.Checksum(nil, xsum)))
	return b
}

// sndCapture collects the packets an interface of a namespace receives for
// the given destinations (with the capture package: the kernel filter, and
// never the namespace's own outgoing packets).
type sndCapture struct {
	mu   sync.Mutex
	pkts [][]byte
	stop func()
	live *capture.Live
}

func newSndCapture(t testing.TB, ns, dev string, dst ...netip.AddrPort) *sndCapture {
	t.Helper()
	var live *capture.Live
	netns.InNS(t, ns, func() (err error) {
		live, err = capture.OpenLive(capture.LiveConfig{Interface: dev, Filter: capture.Filter{Dst: dst}, BlockMB: 16})
		return err
	})
	c := &sndCapture{live: live}
	done := make(chan struct{})
	go func() {
		defer close(done)
		live.Run(t.Context(), func(pkt []byte, _ time.Time) {
			c.mu.Lock()
			c.pkts = append(c.pkts, append([]byte(nil), pkt...))
			c.mu.Unlock()
		})
	}()
	c.stop = func() { live.Close(); <-done }
	t.Cleanup(c.stop)
	return c
}

// wait returns the captured packets once n of them match pred, or when d
// has passed.
func (c *sndCapture) wait(n int, d time.Duration, pred func([]byte) bool) [][]byte {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		var got [][]byte
		for _, p := range c.pkts {
			if pred(p) {
				got = append(got, p)
			}
		}
		c.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sndTCP parses an IP packet's TCP header; ok is false for anything else.
func sndTCP(p []byte) (src, dst netip.AddrPort, tcp header.TCP, ok bool) {
	var payload []byte
	var s, d netip.Addr
	switch p[0] >> 4 {
	case 4:
		ip := header.IPv4(p)
		if !ip.IsValid(len(p)) || ip.TransportProtocol() != header.TCPProtocolNumber {
			return
		}
		payload = ip.Payload()
		s, d = netip.AddrFrom4(ip.SourceAddress().As4()), netip.AddrFrom4(ip.DestinationAddress().As4())
	case 6:
		ip := header.IPv6(p)
		if !ip.IsValid(len(p)) || ip.TransportProtocol() != header.TCPProtocolNumber {
			return
		}
		payload = ip.Payload()
		s, d = netip.AddrFrom16(ip.SourceAddress().As16()), netip.AddrFrom16(ip.DestinationAddress().As16())
	default:
		return
	}
	if len(payload) < header.TCPMinimumSize {
		return
	}
	tcp = header.TCP(payload)
	return netip.AddrPortFrom(s, tcp.SourcePort()), netip.AddrPortFrom(d, tcp.DestinationPort()), tcp, true
}

// isSYNACKFor matches the target's SYN-ACK answering a SYN (src, seq).
func isSYNACKFor(client netip.AddrPort, seq uint32) func([]byte) bool {
	return func(p []byte) bool {
		_, dst, tcp, ok := sndTCP(p)
		return ok && dst == client && tcp.Flags() == header.TCPFlagSyn|header.TCPFlagAck && tcp.AckNumber() == seq+1
	}
}
