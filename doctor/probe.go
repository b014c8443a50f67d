package doctor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
)

// ProbeTimeout is how long the probe waits for the gateway to report the
// target's SYN-ACK.
const ProbeTimeout = 2 * time.Second

// prober runs the active probe through a set of connected gateways.
type prober struct {
	gws     []*gwClient
	gwHosts []string // gateway host addresses, for the target's route
	recs    chan wire.Record
	pool    netip.Prefix
	mss     int
	timeout time.Duration
}

// probe registers a route for (random pool address and port -> target) on
// every gateway, sends one SYN from it to target with a raw socket, and
// waits for the gateway to report the SYN-ACK. It then resets the
// target's half-open connection and removes the route.
func (p *prober) probe(ctx context.Context, target netip.AddrPort) Check {
	name := "probe " + target.String()
	if target.Addr().Is4() != p.pool.Addr().Is4() {
		return fail(name, "use a [copy].client_pool of the target's address family",
			"client pool %s and target %s are of different families", p.pool, target)
	}
	src := netip.AddrPortFrom(randomHost(p.pool), uint16(20000+rand.IntN(40000)))
	tuple := wire.Tuple{Client: src, Target: target}
	isn := rand.Uint32()

	egress, ifindex, err := egressOf(target.Addr())
	if err != nil {
		return fail(name, fmt.Sprintf("add a route to %s on this host (ip route get %s)", target.Addr(), target.Addr()),
			"no route to the target: %v", err)
	}
	for _, g := range p.gws {
		if err := g.addRoute(tuple, 10*time.Second); err != nil {
			return fail(name, "", "register the probe route on %s: %v", g.addr, err)
		}
	}
	defer func() {
		for _, g := range p.gws {
			g.delRoute(tuple)
		}
	}()
	for _, g := range p.gws {
		g.sync(500 * time.Millisecond)
	}
	for len(p.recs) > 0 { // stale records of an earlier probe
		<-p.recs
	}

	watch, werr := openWatch(ifindex, src.Addr(), target.Addr())
	sent := time.Now()
	if err := rawSend(probeSegment(src, target, isn, 0, header.TCPFlagSyn, uint16(p.mss))); err != nil {
		if watch >= 0 {
			unix.Close(watch)
		}
		fix := ""
		if errors.Is(err, unix.EPERM) {
			fix = "the kernel refused the spoofed send: check the OUTPUT chain (iptables -S OUTPUT; nft list ruleset) and the conntrack check"
		}
		return fail(name, fix, "could not send the SYN from %s: %v", src, err)
	}
	// Always clean up the target's half-open connection: seq isn+1 is the
	// target's rcv_nxt whether or not its SYN-ACK reached the gateway.
	defer rawSend(probeSegment(src, target, isn+1, 0, header.TCPFlagRst, 0))
	var w *watcher
	if watch >= 0 {
		w = startWatch(watch, src, target, p.timeout)
		defer w.Close()
	}

	deadline := time.NewTimer(p.timeout - time.Since(sent))
	defer deadline.Stop()
	for {
		select {
		case r := <-p.recs:
			if r.Tuple != tuple {
				continue
			}
			rtt := time.Since(sent)
			switch {
			case r.Has(wire.FlagSYN | wire.FlagACK):
				return pass(name, "SYN from %s answered by a SYN-ACK through the gateway in %v", src, rtt.Round(time.Microsecond))
			case r.Has(wire.FlagRST):
				return fail(name, fmt.Sprintf("start the service on %s, or fix the [[copy.route]] to = %q", target, target.String()),
					"the target answered the SYN with a reset after %v: nothing listens on %s (the black-hole path works)", rtt.Round(time.Microsecond), target)
			}
		case <-deadline.C:
			if w == nil {
				return p.noAnswer(name, target, egress, fmt.Sprintf("could not watch %s (%v)", egress, werr), false)
			}
			w.Close()
			if w.Seen() {
				return p.noAnswer(name, target, egress, "the SYN left via "+egress, false)
			}
			left := "the SYN was NOT seen leaving via " + egress
			if hop, state := nextHopState(target.Addr(), ifindex); state != "" {
				return fail(name, fmt.Sprintf("make %s reachable from this host via %s (ping %s; ip neigh show %s)", hop, egress, hop, hop),
					"%s: the next hop %s is %s in the neighbour table", left, hop, state)
			}
			return p.noAnswer(name, target, egress, left, true)
		case <-ctx.Done():
			return fail(name, "", "cancelled: %v", ctx.Err())
		}
	}
}

// noAnswer explains a probe that got no record.
func (p *prober) noAnswer(name string, target netip.AddrPort, egress, left string, notLeft bool) Check {
	if notLeft {
		return fail(name, "a local filter dropped the spoofed SYN; look for it: iptables -S OUTPUT; nft list ruleset; tc filter show dev "+egress+" egress",
			"%s; no answer within %v", left, p.timeout)
	}
	gw := "<gateway address>"
	if len(p.gwHosts) > 0 {
		gw = p.gwHosts[0]
		// The control channel may run over the other family than the pool.
		if a, err := netip.ParseAddr(gw); err == nil && a.Is4() != p.pool.Addr().Is4() {
			fam := "IPv6"
			if p.pool.Addr().Is4() {
				fam = "IPv4"
			}
			gw = fmt.Sprintf("<%s address of the gateway host %s>", fam, gw)
		}
	}
	ip := "ip"
	if p.pool.Addr().Is6() {
		ip = "ip -6"
	}
	fix := fmt.Sprintf("on the target %s: %s route add %s via %s", target.Addr(), ip, p.pool.Masked(), gw)
	fix += fmt.Sprintf("\nif that route exists: allow tcp from %s to port %d in the target's firewall, and run `replaygw doctor` on the gateway host", p.pool.Masked(), target.Port())
	if p.pool.Addr().Is4() {
		fix += "\nif the target's route to the pool leaves by another interface than the SYN arrives on: sysctl -w net.ipv4.conf.all.rp_filter=2 (on the target)"
	}
	return fail(name, fix, "%s but no SYN-ACK came back through the gateway within %v: the target's responses to %s do not reach the gateway",
		left, p.timeout, p.pool.Masked())
}

// randomHost picks a random host address inside p (not the network or
// broadcast address when the prefix has room).
func randomHost(p netip.Prefix) netip.Addr {
	p = p.Masked()
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits < 2 {
		return p.Addr()
	}
	span := uint64(1)<<min(hostBits, 32) - 2
	off := 1 + rand.Uint64N(span)
	b := p.Addr().AsSlice()
	for i := len(b) - 1; i >= 0 && off > 0; i-- {
		sum := uint64(b[i]) + off&0xff
		b[i] = byte(sum)
		off = off>>8 + sum>>8
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// egressOf returns the interface the kernel would send to dst on.
func egressOf(dst netip.Addr) (string, int, error) {
	routes, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return "", 0, err
	}
	if len(routes) == 0 {
		return "", 0, errors.New("no route")
	}
	idx := routes[0].LinkIndex
	l, err := netlink.LinkByIndex(idx)
	if err != nil {
		return fmt.Sprintf("ifindex %d", idx), idx, nil
	}
	return l.Attrs().Name, idx, nil
}

// rawSend sends an IP packet with a raw socket (the header as built).
func rawSend(b []byte) error {
	var ip pkt.IP
	if err := pkt.ParseIP(b, &ip); err != nil {
		return fmt.Errorf("raw send: %w", err)
	}
	af := unix.AF_INET6
	var sa unix.Sockaddr
	if ip.V6 {
		sa = &unix.SockaddrInet6{Addr: ip.Dst.As16()}
	} else {
		af = unix.AF_INET
		sa = &unix.SockaddrInet4{Addr: ip.Dst.As4()}
	}
	fd, err := unix.Socket(af, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, b, 0, sa); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	return nil
}

// openWatch opens a cooked AF_PACKET socket on ifindex that sees only IP
// packets from src to dst (both directions of the interface).
func openWatch(ifindex int, src, dst netip.Addr) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	prog, err := bpf.Assemble(watchFilter(src, dst))
	if err == nil {
		f := make([]unix.SockFilter, len(prog))
		for i, in := range prog {
			f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		err = unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
	}
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	}
	if err == nil {
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// watchFilter accepts IP packets whose source and destination end in the
// last four bytes of src and dst (the whole address for IPv4).
func watchFilter(src, dst netip.Addr) []bpf.Instruction {
	ver, srcOff, dstOff := uint32(4), uint32(12), uint32(16)
	if src.Is6() {
		ver, srcOff, dstOff = 6, 20, 36
	}
	s, d := src.AsSlice(), dst.AsSlice()
	last := func(b []byte) uint32 {
		b = b[len(b)-4:]
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ver, SkipTrue: 5},
		bpf.LoadAbsolute{Off: srcOff, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: last(s), SkipTrue: 3},
		bpf.LoadAbsolute{Off: dstOff, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: last(d), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
}

// watcher reads a watch socket in the background until the SYN shows up,
// the time is over or Close; it owns and closes the socket.
type watcher struct {
	seen, stop, done chan struct{}
}

func startWatch(fd int, src, dst netip.AddrPort, d time.Duration) *watcher {
	w := &watcher{seen: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer unix.Close(fd)
		if waitSegment(fd, src, dst, d, w.stop) {
			close(w.seen)
		}
	}()
	return w
}

// Seen reports whether the SYN was seen so far.
func (w *watcher) Seen() bool {
	select {
	case <-w.seen:
		return true
	default:
		return false
	}
}

// Close stops the watcher and waits for it; Close twice is fine.
func (w *watcher) Close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// waitSegment reads the watch socket until a SYN from src to dst shows up,
// the time is over or stop closes.
func waitSegment(fd int, src, dst netip.AddrPort, d time.Duration, stop <-chan struct{}) bool {
	buf := make([]byte, 2048)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-stop:
			return false
		default:
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return false
		}
		if segmentFrom(buf[:n], src, dst, header.TCPFlagSyn) {
			return true
		}
	}
	return false
}

// nextHopState returns the next hop towards dst and its neighbour state
// when it is not usable (INCOMPLETE, FAILED), else "".
func nextHopState(dst netip.Addr, ifindex int) (string, string) {
	hop := net.IP(dst.AsSlice())
	if routes, err := netlink.RouteGet(hop); err == nil && len(routes) > 0 && routes[0].Gw != nil {
		hop = routes[0].Gw
	}
	fam := netlink.FAMILY_V4
	if hop.To4() == nil {
		fam = netlink.FAMILY_V6
	}
	neighs, err := netlink.NeighList(ifindex, fam)
	if err != nil {
		return hop.String(), ""
	}
	for _, n := range neighs {
		if n.IP.Equal(hop) {
			switch {
			case n.State&netlink.NUD_INCOMPLETE != 0:
				return hop.String(), "INCOMPLETE (it does not answer ARP/neighbour solicitations)"
			case n.State&netlink.NUD_FAILED != 0:
				return hop.String(), "FAILED (it does not answer ARP/neighbour solicitations)"
			}
		}
	}
	return hop.String(), ""
}
