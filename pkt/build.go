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
}

// Size is the length of the packet Build writes for s.
func (s *Segment) Size() int {
	n := header.IPv4MinimumSize
	if !s.Src.Addr().Is4() {
		n = header.IPv6MinimumSize
	}
	return n + header.TCPMinimumSize + len(s.Options) + len(s.Payload)
}

// Build writes s into b, IP header, TCP header, options, payload and both
// checksums, and returns the packet's length. It never allocates.
func Build(b []byte, s *Segment) (int, error) {
	v4 := s.Src.Addr().Is4()
	if v4 != s.Dst.Addr().Is4() || !s.Src.Addr().IsValid() || !s.Dst.Addr().IsValid() {
		return 0, ErrFamily
	}
	if len(s.Options)%4 != 0 || len(s.Options) > header.TCPOptionsMaximumSize {
		return 0, ErrOptions
	}
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
	src, dst := tcpipAddr(s.Src.Addr()), tcpipAddr(s.Dst.Addr())
	if v4 {
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(total),
			ID:          s.ID,
			Flags:       header.IPv4FlagDontFragment,
			TTL:         ttl,
			Protocol:    uint8(header.TCPProtocolNumber),
			SrcAddr:     src,
			DstAddr:     dst,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	} else {
		header.IPv6(b).Encode(&header.IPv6Fields{
			PayloadLength:     uint16(segLen),
			TransportProtocol: header.TCPProtocolNumber,
			HopLimit:          ttl,
			SrcAddr:           src,
			DstAddr:           dst,
		})
	}
	t := header.TCP(b[ipLen:total])
	t.Encode(&header.TCPFields{
		SrcPort:    s.Src.Port(),
		DstPort:    s.Dst.Port(),
		SeqNum:     uint32(s.Seq),
		AckNum:     uint32(s.Ack),
		DataOffset: uint8(tcpLen),
		Flags:      s.Flags,
		WindowSize: s.Window,
	})
	copy(t[header.TCPMinimumSize:], s.Options)
	copy(t[tcpLen:], s.Payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(segLen))
	xsum = checksum.Checksum(s.Payload, xsum)
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
