package copier

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// L2Sender sends IP packets as Ethernet frames from an AF_PACKET socket on
// one interface: source MAC = the interface's, destination MAC = the next
// hop's (given, or looked up per destination in the kernel's neighbour
// table). It bypasses the host's routing and firewall on the way out. Safe
// for concurrent use: one socket, one sendmmsg(2) per batch (SendBatch) or
// one writev(2) per packet (Send).
type L2Sender struct {
	log   *slog.Logger
	iface string
	fd    int
	src   net.HardwareAddr
	fixed net.HardwareAddr // nil: resolve per destination
	stats SendStats

	ifindex   int
	nlMu      sync.Mutex               // guards nl
	nl        *netlink.Handle          // opened in the sender's network namespace
	solicited map[netip.Addr]time.Time // guarded by nlMu
	mu        sync.RWMutex
	neigh     map[netip.Addr]neighEntry
	once      sync.Once
}

type neighEntry struct {
	mac     [6]byte
	expires time.Time
}

// neighTTL is how long a resolved next-hop MAC is used before it is looked up
// again; unresolved destinations are retried on every send.
const neighTTL = 30 * time.Second

// NewL2Sender opens an AF_PACKET socket on iface. With nextHopMAC nil, each
// destination's next hop (its route's gateway, or the destination itself when
// on-link) is looked up in the neighbour table; a next hop that is not there
// fails the send with ErrNoNeighbour (counted) and makes the kernel resolve
// it (ARP / neighbour discovery), so that the sends after that succeed.
func NewL2Sender(iface string, nextHopMAC net.HardwareAddr, opts SenderOptions) (*L2Sender, error) {
	opts.defaults()
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("copier: l2 sender: interface %q: %w", iface, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("copier: l2 sender: interface %q has no Ethernet address", iface)
	}
	if nextHopMAC != nil && len(nextHopMAC) != 6 {
		return nil, fmt.Errorf("copier: l2 sender: next hop MAC %v is not an Ethernet address", nextHopMAC)
	}
	// Protocol 0: the socket receives nothing, it only sends.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("copier: l2 sender: socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("copier: l2 sender: bind %s: %w", iface, err)
	}
	if err := setSendBuffer(fd, opts); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("copier: l2 sender: send buffer: %w", err)
	}
	s := &L2Sender{
		log: opts.Logger, iface: iface, fd: fd, src: ifi.HardwareAddr, ifindex: ifi.Index,
		fixed: nextHopMAC, neigh: map[netip.Addr]neighEntry{}, solicited: map[netip.Addr]time.Time{},
	}
	if nextHopMAC == nil {
		// Lookups happen later on any thread; the handle keeps them in the
		// namespace the sender was opened in.
		if s.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("copier: l2 sender: netlink: %w", err)
		}
	}
	s.log.Info("l2 sender ready", "interface", iface, "src_mac", s.src.String(), "next_hop_mac", nextHopMAC.String())
	return s, nil
}

// Send writes one IP packet as an Ethernet frame. The header and the packet
// go out with one writev, without copying the packet.
func (s *L2Sender) Send(pkt []byte) error {
	var hdr [14]byte
	if err := s.header(pkt, &hdr); err != nil {
		return err
	}
	iov := [2]unix.Iovec{{Base: &hdr[0]}, {Base: &pkt[0]}}
	iov[0].SetLen(len(hdr))
	iov[1].SetLen(len(pkt))
	for {
		_, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(s.fd), uintptr(unsafe.Pointer(&iov[0])), 2)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return s.stats.fail(s.log, "l2", e)
		}
		break
	}
	s.stats.ok(len(pkt))
	return nil
}

// header fills hdr with pkt's Ethernet header (the failure is counted).
func (s *L2Sender) header(pkt []byte, hdr *[14]byte) error {
	var dst netip.Addr
	switch ipVersion(pkt) {
	case 4:
		hdr[12], hdr[13] = 0x08, 0x00
		dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	case 6:
		hdr[12], hdr[13] = 0x86, 0xdd
		dst = netip.AddrFrom16([16]byte(pkt[24:40]))
	default:
		return s.stats.fail(s.log, "l2", ErrInvalidPacket)
	}
	if s.fixed != nil {
		copy(hdr[0:6], s.fixed)
	} else {
		mac, err := s.nextHop(dst)
		if err != nil {
			return s.stats.fail(s.log, "l2", err)
		}
		copy(hdr[0:6], mac[:])
	}
	copy(hdr[6:12], s.src)
	return nil
}

// SendBatch sends several packets with one sendmmsg(2) per 64, each frame
// its own header and the packet in two iovecs (no copy), quietly as the raw
// sender does (sendmmsgQuiet). It returns how many were sent and the first
// error; the packets after a failed one are retried one by one so that
// each failure is counted.
func (s *L2Sender) SendBatch(pkts [][]byte) (int, error) {
	b := l2BatchPool.Get().(*l2Batch)
	defer l2BatchPool.Put(b)
	sent := 0
	var first error
	flush := func() {
		n := sendmmsgQuiet(s.fd, b.msgs[:b.n])
		for i := 0; i < n; i++ {
			s.stats.ok(len(b.pkt[i]))
		}
		sent += n
		if n < b.n {
			sendEach(b.pkt[n:b.n], s.Send, &sent, &first)
		}
		clear(b.pkt[:b.n])
		b.n = 0
	}
	for _, p := range pkts {
		if err := s.header(p, &b.hdr[b.n]); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		b.add(p)
		if b.n == len(b.msgs) {
			flush()
		}
	}
	if b.n > 0 {
		flush()
	}
	return sent, first
}

// l2Batch holds the sendmmsg arguments for up to 64 frames of a bound
// packet socket (no address per message).
type l2Batch struct {
	n    int
	msgs [64]unix.Mmsghdr
	iov  [64][2]unix.Iovec
	hdr  [64][14]byte
	pkt  [64][]byte
}

var l2BatchPool = sync.Pool{New: func() any { return new(l2Batch) }}

// add queues p behind the header already written at b.hdr[b.n].
func (b *l2Batch) add(p []byte) {
	i := b.n
	b.pkt[i] = p
	b.iov[i][0].Base = &b.hdr[i][0]
	b.iov[i][0].SetLen(len(b.hdr[i]))
	b.iov[i][1].Base = &p[0]
	b.iov[i][1].SetLen(len(p))
	m := &b.msgs[i]
	*m = unix.Mmsghdr{}
	m.Hdr.Iov = &b.iov[i][0]
	m.Hdr.SetIovlen(2)
	b.n++
}

// nextHop returns the MAC address of dst's next hop, from the cache or the
// kernel's route and neighbour tables.
func (s *L2Sender) nextHop(dst netip.Addr) ([6]byte, error) {
	now := time.Now()
	s.mu.RLock()
	e, ok := s.neigh[dst]
	s.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.mac, nil
	}
	mac, err := s.resolve(dst)
	if err != nil {
		return mac, err
	}
	s.mu.Lock()
	if len(s.neigh) > 65536 { // bounded: start over rather than grow
		s.neigh = map[netip.Addr]neighEntry{}
	}
	s.neigh[dst] = neighEntry{mac, now.Add(neighTTL)}
	s.mu.Unlock()
	return mac, nil
}

func (s *L2Sender) resolve(dst netip.Addr) ([6]byte, error) {
	var mac [6]byte
	s.nlMu.Lock()
	defer s.nlMu.Unlock()
	hop := dst
	routes, err := s.nl.RouteGet(dst.AsSlice())
	if err == nil && len(routes) > 0 && routes[0].Gw != nil {
		if gw, ok := netip.AddrFromSlice(routes[0].Gw); ok {
			hop = gw.Unmap()
		}
	}
	family := netlink.FAMILY_V4
	if hop.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := s.nl.NeighList(s.ifindex, family)
	if err != nil {
		return mac, fmt.Errorf("copier: l2 sender: neighbour table: %w", err)
	}
	for _, n := range neighs {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || a.Unmap() != hop || len(n.HardwareAddr) != 6 {
			continue
		}
		if n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 {
			continue
		}
		copy(mac[:], n.HardwareAddr)
		return mac, nil
	}
	s.solicit(hop, family)
	return mac, ErrNoNeighbour
}

// solicit asks the kernel to resolve hop (a neighbour entry with NTF_USE
// starts ARP / neighbour discovery, as if a packet were waiting for it), at
// most once a second per address. Caller holds nlMu.
func (s *L2Sender) solicit(hop netip.Addr, family int) {
	now := time.Now()
	if last, ok := s.solicited[hop]; ok && now.Sub(last) < time.Second {
		return
	}
	if len(s.solicited) > 4096 {
		clear(s.solicited)
	}
	s.solicited[hop] = now
	err := s.nl.NeighSet(&netlink.Neigh{
		LinkIndex: s.ifindex, Family: family, IP: hop.AsSlice(), Flags: netlink.NTF_USE,
	})
	if err != nil {
		s.log.Debug("l2 sender: neighbour solicitation failed", "next_hop", hop, "err", err)
	}
}

// Stats returns the sender's counters.
func (s *L2Sender) Stats() *SendStats { return &s.stats }

// Close closes the socket. Call it after the last Send has returned.
func (s *L2Sender) Close() error {
	var err error
	s.once.Do(func() {
		if cerr := unix.Close(s.fd); cerr != nil {
			err = fmt.Errorf("copier: l2 sender close: %w", cerr)
		}
		s.fd = -1
		if s.nl != nil {
			s.nl.Close()
		}
	})
	return err
}
