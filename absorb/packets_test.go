package absorb

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
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
	tcpLen := header.TCPMinimumSize + len(opts) + len(s.payload)
	seg := make([]byte, tcpLen)
	tcp := header.TCP(seg)
	tcp.Encode(&header.TCPFields{
		SrcPort: s.src.Port(), DstPort: s.dst.Port(), SeqNum: s.seq, AckNum: s.ack,
		DataOffset: uint8(header.TCPMinimumSize + len(opts)), Flags: s.flags, WindowSize: s.window,
	})
	copy(seg[header.TCPMinimumSize:], opts)
	copy(seg[header.TCPMinimumSize+len(opts):], s.payload)
	src, dst := taddr(s.src.Addr()), taddr(s.dst.Addr())
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(tcpLen))
	tcp.SetChecksum(^checksum.Checksum(seg, xsum))

	if s.src.Addr().Is4() {
		pkt := make([]byte, header.IPv4MinimumSize+tcpLen)
		ip := header.IPv4(pkt)
		var flags uint8
		if s.moreFrags {
			flags = header.IPv4FlagMoreFragments
		}
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
			SrcAddr: src, DstAddr: dst, Flags: flags, FragmentOffset: s.fragOffset, ID: 7,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
		copy(pkt[header.IPv4MinimumSize:], seg)
		return pkt
	}
	ext := 0
	if s.extHeader {
		ext = 8
	}
	pkt := make([]byte, header.IPv6MinimumSize+ext+tcpLen)
	next := uint8(header.TCPProtocolNumber)
	if s.extHeader {
		next = uint8(header.IPv6HopByHopOptionsExtHdrIdentifier)
		// hop-by-hop: next header TCP, length 0 (8 bytes), PadN option.
		copy(pkt[header.IPv6MinimumSize:], []byte{uint8(header.TCPProtocolNumber), 0, 1, 4, 0, 0, 0, 0})
	}
	header.IPv6(pkt).Encode(&header.IPv6Fields{
		PayloadLength: uint16(ext + tcpLen), TransportProtocol: tcpip.TransportProtocolNumber(next),
		HopLimit: 64, SrcAddr: src, DstAddr: dst,
	})
	copy(pkt[header.IPv6MinimumSize+ext:], seg)
	return pkt
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
