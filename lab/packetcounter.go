package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/counter"
)

// PacketCounterStats counts the packets a PacketCounter matched.
type PacketCounterStats struct {
	In     atomic.Uint64 // matched packets received on the interface
	Out    atomic.Uint64 // matched packets sent from the interface
	Passed atomic.Uint64 // packets the kernel filter let through, matched or not
}

// Counters lists the stats.
func (s *PacketCounterStats) Counters() []counter.Metric {
	return []counter.Metric{
		counter.Of(&s.In, "packetcounter_matched_in_total", "received packets with a destination in the prefixes"),
		counter.Of(&s.Out, "packetcounter_matched_out_total", "sent packets with a destination in the prefixes"),
		counter.Of(&s.Passed, "packetcounter_passed_total", "packets the socket's kernel filter passed"),
	}
}

// PacketCounter counts packets on one interface of a lab host whose IPv4
// or IPv6 destination lies in a set of prefixes, in both directions, with
// an AF_PACKET socket opened inside the host's namespace. A socket filter
// in the kernel (prefixFilter) passes only those packets: every other one
// is neither copied nor wakes the counter, so the counter costs the lab's
// senders (whose system calls run the receive path of veth) a filter run
// per packet instead of a copy and a wake-up of the test process, which
// would otherwise show up in the benchmarks' CPU per request.
type PacketCounter struct {
	Stats PacketCounterStats

	f        *os.File
	prefixes []netip.Prefix
	done     chan struct{}
}

// NewPacketCounter starts counting on ifname in host's namespace.
func (l *Lab) NewPacketCounter(h Host, ifname string, prefixes ...netip.Prefix) (*PacketCounter, error) {
	var fd int
	err := l.Do(h, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		if err := attachFilter(fd, prefixes); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lab: packet counter on %s in %s: %w", ifname, h, err)
	}
	p := &PacketCounter{
		f:        os.NewFile(uintptr(fd), "packet:"+ifname),
		prefixes: prefixes,
		done:     make(chan struct{}),
	}
	go p.loop()
	l.track(p.Close)
	return p, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (p *PacketCounter) loop() {
	defer close(p.done)
	rc, err := p.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 65536)
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		if err != nil { // closed
			return
		}
		if rerr != nil {
			continue
		}
		p.Stats.Passed.Add(1)
		if !p.match(buf[:min(n, len(buf))]) {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			p.Stats.Out.Add(1)
		} else {
			p.Stats.In.Add(1)
		}
	}
}

// match reports whether the IP packet's destination is in the prefixes.
func (p *PacketCounter) match(b []byte) bool {
	dst, ok := ipDst(b)
	if !ok {
		return false
	}
	for _, pf := range p.prefixes {
		if pf.Contains(dst) {
			return true
		}
	}
	return false
}

// ipDst returns the destination address of an IPv4 or IPv6 packet.
func ipDst(b []byte) (netip.Addr, bool) {
	if len(b) < 1 {
		return netip.Addr{}, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte(b[16:20])), true
	case 6:
		if len(b) < 40 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16([16]byte(b[24:40])), true
	}
	return netip.Addr{}, false
}

// Matched is the number of matched packets in both directions.
func (p *PacketCounter) Matched() uint64 { return p.Stats.In.Load() + p.Stats.Out.Load() }

// Close stops counting. It may be called more than once.
func (p *PacketCounter) Close() error {
	err := p.f.Close()
	<-p.done
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("lab: packet counter close: %w", err)
	}
	return nil
}
