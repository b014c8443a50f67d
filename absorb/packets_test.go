package absorb

import (
	"net/netip"

	"github.com/replaygw/replaygw/pkt"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Packet builders for tests (and the benchmark generator).

type tcpSpec struct {
	src, dst   netip.AddrPort
	seq, ack   uint32
	flags      header.TCPFlags
	window     uint16
	opts       []byte // raw options, padded to 4 bytes by the builder
	payload    []byte
	extHeader  bool // IPv6: put a hop-by-hop extension header before TCP
	fragOffset uint16
	moreFrags  bool
}

func taddr(a netip.Addr) tcpip.Address { return tcpip.AddrFromSlice(a.AsSlice()) }

// tcpPacket builds an IPv4 or IPv6 TCP packet with valid checksums.
func tcpPacket(s tcpSpec) []byte {
	opts := append([]byte(nil), s.opts...)
	for len(opts)%4 != 0 {
		opts = append(opts, header.TCPOptionEOL)
	}
	seg := pkt.Segment{
		Src: s.src, Dst: s.dst, Seq: seqnum.Value(s.seq), Ack: seqnum.Value(s.ack),
		Flags: s.flags, Window: s.window, Options: opts, Payload: s.payload, ID: 7,
	}
	b := make([]byte, seg.Size())
	if _, err := pkt.Build(b, &seg); err != nil {
		panic(err)
	}
	if s.src.Addr().Is4() {
		if s.moreFrags || s.fragOffset != 0 {
			var flags uint8
			if s.moreFrags {
				flags = header.IPv4FlagMoreFragments
			}
			ip := header.IPv4(b)
			ip.SetFlagsFragmentOffset(flags, s.fragOffset)
			ip.SetChecksum(0)
			ip.SetChecksum(^ip.CalculateChecksum())
		}
		return b
	}
	if s.extHeader {
		// hop-by-hop: next header TCP, length 0 (8 bytes), PadN option.
		// The TCP checksum stays: its pseudo-header has the TCP length.
		hbh := []byte{uint8(header.TCPProtocolNumber), 0, 1, 4, 0, 0, 0, 0}
		b = append(append(b[:header.IPv6MinimumSize:header.IPv6MinimumSize], hbh...), b[header.IPv6MinimumSize:]...)
		ip := header.IPv6(b)
		ip.SetNextHeader(uint8(header.IPv6HopByHopOptionsExtHdrIdentifier))
		ip.SetPayloadLength(ip.PayloadLength() + uint16(len(hbh)))
	}
	return b
}

// udpPacket builds an IPv4 or IPv6 UDP datagram.
func udpPacket(src, dst netip.AddrPort, payload []byte) []byte {
	udpLen := header.UDPMinimumSize + len(payload)
	seg := make([]byte, udpLen)
	header.UDP(seg).Encode(&header.UDPFields{SrcPort: src.Port(), DstPort: dst.Port(), Length: uint16(udpLen)})
	copy(seg[header.UDPMinimumSize:], payload)
	s, d := taddr(src.Addr()), taddr(dst.Addr())
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, s, d, uint16(udpLen))
	header.UDP(seg).SetChecksum(^checksum.Checksum(seg, xsum))
	if src.Addr().Is4() {
		pkt := make([]byte, header.IPv4MinimumSize+udpLen)
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber), SrcAddr: s, DstAddr: d})
		ip.SetChecksum(^ip.CalculateChecksum())
		copy(pkt[header.IPv4MinimumSize:], seg)
		return pkt
	}
	pkt := make([]byte, header.IPv6MinimumSize+udpLen)
	header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(udpLen), TransportProtocol: header.UDPProtocolNumber, HopLimit: 64, SrcAddr: s, DstAddr: d})
	copy(pkt[header.IPv6MinimumSize:], seg)
	return pkt
}

// echoRequest builds an ICMP (v4) or ICMPv6 echo request.
func echoRequest(src, dst netip.Addr, id, seq uint16, data []byte) []byte {
	icmpLen := 8 + len(data)
	if src.Is4() {
		pkt := make([]byte, header.IPv4MinimumSize+icmpLen)
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber), SrcAddr: taddr(src), DstAddr: taddr(dst)})
		ip.SetChecksum(^ip.CalculateChecksum())
		icmp := header.ICMPv4(pkt[header.IPv4MinimumSize:])
		icmp.SetType(header.ICMPv4Echo)
		icmp.SetIdent(id)
		icmp.SetSequence(seq)
		copy(icmp[8:], data)
		icmp.SetChecksum(^checksum.Checksum(icmp, 0))
		return pkt
	}
	pkt := make([]byte, header.IPv6MinimumSize+icmpLen)
	header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(icmpLen), TransportProtocol: header.ICMPv6ProtocolNumber, HopLimit: 64, SrcAddr: taddr(src), DstAddr: taddr(dst)})
	icmp := header.ICMPv6(pkt[header.IPv6MinimumSize:])
	icmp.SetType(header.ICMPv6EchoRequest)
	icmp.SetIdent(id)
	icmp.SetSequence(seq)
	copy(icmp[8:], data)
	icmp.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: icmp, Src: taddr(src), Dst: taddr(dst)}))
	return pkt
}

// synAckOpts are typical SYN-ACK options: MSS 1460, SACK permitted,
// timestamps, NOP, window scale 7.
var synAckOpts = []byte{
	2, 4, 0x05, 0xb4, // MSS 1460
	4, 2, // SACK permitted
	8, 10, 0, 0, 0, 42, 0, 0, 0, 7, // TS val 42 ecr 7
	1,       // NOP
	3, 3, 7, // WS 7
}
