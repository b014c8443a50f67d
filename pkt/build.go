package pkt

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Segment is what Build writes: one TCP segment in an IPv4 packet (Src and
// Dst both IPv4) or an IPv6 packet (both IPv6).
type Segment struct {
	Src, Dst netip.AddrPort
	Seq, Ack seqnum.Value
	Flags    header.TCPFlags
	Window   uint16
	// Options are the TCP options, already padded to a multiple of 4.
	Options []byte
	Payload []byte
	// ID is the IPv4 identification field (IPv6 has none). IPv4 packets
	// carry Don't Fragment.
	ID uint16
	// TTL is the IPv4 TTL or IPv6 hop limit; 0 means 64.
	TTL uint8
	// Flow, when set, gives the addresses and ports already encoded (see
	// NewFlow) and Src and Dst are ignored: a sender of many segments on
	// one connection converts its endpoints once instead of per packet.
	Flow *Flow
}

// Flow is a connection's two endpoints in the form Build writes them. The
// zero Flow is none: Build reports ErrFamily.
type Flow struct {
	src, dst         tcpip.Address
	srcPort, dstPort uint16
	v6               bool
	// pseudo is the TCP pseudo-header checksum without the length: the
	// one's complement sum is associative, so Build adds the segment
	// length to it instead of summing the addresses again.
	pseudo uint16
}

// NewFlow encodes src and dst, both IPv4 or both IPv6, for Segment.Flow.
func NewFlow(src, dst netip.AddrPort) (Flow, error) {
	sa, da := src.Addr(), dst.Addr()
	if sa.Is4() != da.Is4() || !sa.IsValid() || !da.IsValid() {
		return Flow{}, ErrFamily
	}
	f := Flow{
		src: tcpipAddr(sa), dst: tcpipAddr(da),
		srcPort: src.Port(), dstPort: dst.Port(),
		v6: !sa.Is4(),
	}
	f.pseudo = header.PseudoHeaderChecksum(header.TCPProtocolNumber, f.src, f.dst, 0)
	return f, nil
}

// V6 reports whether the flow's packets are IPv6.
func (f *Flow) V6() bool { return f.v6 }

// Size is the length of the packet Build writes for s.
func (s *Segment) Size() int {
	n := header.IPv4MinimumSize
	if s.Flow != nil && s.Flow.v6 || s.Flow == nil && !s.Src.Addr().Is4() {
		n = header.IPv6MinimumSize
	}
	return n + header.TCPMinimumSize + len(s.Options) + len(s.Payload)
}

// Build writes s into b, IP header, TCP header, options, payload and both
// checksums, and returns the packet's length. It never allocates.
func Build(b []byte, s *Segment) (int, error) {
	if s.Flow != nil {
		return buildFlow(b, s, s.Flow)
	}
	f, err := NewFlow(s.Src, s.Dst)
	if err != nil {
		return 0, err
	}
	return buildFlow(b, s, &f)
}

// buildFlow is Build with the endpoints f.
func buildFlow(b []byte, s *Segment, f *Flow) (int, error) {
	if f.src.Len() == 0 { // the zero Flow
		return 0, ErrFamily
	}
	if len(s.Options)%4 != 0 || len(s.Options) > header.TCPOptionsMaximumSize {
		return 0, ErrOptions
	}
	v4 := !f.v6
	ipLen := header.IPv4MinimumSize
	if !v4 {
		ipLen = header.IPv6MinimumSize
	}
	tcpLen := header.TCPMinimumSize + len(s.Options)
	segLen := tcpLen + len(s.Payload)
	total := ipLen + segLen
	if v4 && total > 0xffff || !v4 && segLen > 0xffff {
		return 0, ErrTooLong
	}
	if total > len(b) {
		return 0, ErrBuffer
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64
	}
	if v4 {
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(total),
			ID:          s.ID,
			Flags:       header.IPv4FlagDontFragment,
			TTL:         ttl,
			Protocol:    uint8(header.TCPProtocolNumber),
			SrcAddr:     f.src,
			DstAddr:     f.dst,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	} else {
		header.IPv6(b).Encode(&header.IPv6Fields{
			PayloadLength:     uint16(segLen),
			TransportProtocol: header.TCPProtocolNumber,
			HopLimit:          ttl,
			SrcAddr:           f.src,
			DstAddr:           f.dst,
		})
	}
	t := header.TCP(b[ipLen:total])
	t.Encode(&header.TCPFields{
		SrcPort:    f.srcPort,
		DstPort:    f.dstPort,
		SeqNum:     uint32(s.Seq),
		AckNum:     uint32(s.Ack),
		DataOffset: uint8(tcpLen),
		Flags:      s.Flags,
		WindowSize: s.Window,
	})
	copy(t[header.TCPMinimumSize:], s.Options)
	copy(t[tcpLen:], s.Payload)
	xsum := checksum.Checksum(s.Payload, checksum.Combine(f.pseudo, uint16(segLen)))
	t.SetChecksum(^t.CalculateChecksum(xsum))
	return total, nil
}

// tcpipAddr converts without allocating.
func tcpipAddr(a netip.Addr) tcpip.Address {
	if a.Is4() {
		return tcpip.AddrFrom4(a.As4())
	}
	return tcpip.AddrFrom16(a.As16())
}
