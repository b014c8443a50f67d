package doctor

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// probeSegment builds an IPv4 or IPv6 packet carrying one TCP segment with
// no payload, from src to dst. A SYN carries an MSS option.
func probeSegment(src, dst netip.AddrPort, seq, ack uint32, flags header.TCPFlags, mss uint16) []byte {
	tcpLen := header.TCPMinimumSize
	if flags&header.TCPFlagSyn != 0 {
		tcpLen += 4
	}
	var ipLen int
	if src.Addr().Is4() {
		ipLen = header.IPv4MinimumSize
	} else {
		ipLen = header.IPv6MinimumSize
	}
	pkt := make([]byte, ipLen+tcpLen)
	s, d := addr(src.Addr()), addr(dst.Addr())
	if src.Addr().Is4() {
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(len(pkt)),
			ID:          uint16(seq),
			Flags:       header.IPv4FlagDontFragment,
			TTL:         64,
			Protocol:    uint8(header.TCPProtocolNumber),
			SrcAddr:     s,
			DstAddr:     d,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	} else {
		header.IPv6(pkt).Encode(&header.IPv6Fields{
			PayloadLength:     uint16(tcpLen),
			TransportProtocol: header.TCPProtocolNumber,
			HopLimit:          64,
			SrcAddr:           s,
			DstAddr:           d,
		})
	}
	tcp := header.TCP(pkt[ipLen:])
	tcp.Encode(&header.TCPFields{
		SrcPort:    src.Port(),
		DstPort:    dst.Port(),
		SeqNum:     seq,
		AckNum:     ack,
		DataOffset: uint8(tcpLen),
		Flags:      flags,
		WindowSize: 64240,
	})
	if flags&header.TCPFlagSyn != 0 {
		header.EncodeMSSOption(uint32(mss), tcp[header.TCPMinimumSize:])
	}
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, s, d, uint16(tcpLen))
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return pkt
}

func addr(a netip.Addr) tcpip.Address {
	if a.Is4() {
		return tcpip.AddrFrom4(a.As4())
	}
	return tcpip.AddrFrom16(a.As16())
}

// segmentFrom parses an IP packet and reports whether it is a TCP segment
// from src to dst with the given flags set.
func segmentFrom(pkt []byte, src, dst netip.AddrPort, flags header.TCPFlags) bool {
	var s, d tcpip.Address
	var tcp header.TCP
	switch {
	case len(pkt) >= header.IPv4MinimumSize && pkt[0]>>4 == 4:
		ip := header.IPv4(pkt)
		if !ip.IsValid(len(pkt)) || ip.TransportProtocol() != header.TCPProtocolNumber {
			return false
		}
		s, d, tcp = ip.SourceAddress(), ip.DestinationAddress(), header.TCP(ip.Payload())
	case len(pkt) >= header.IPv6MinimumSize && pkt[0]>>4 == 6:
		ip := header.IPv6(pkt)
		if ip.TransportProtocol() != header.TCPProtocolNumber {
			return false
		}
		s, d, tcp = ip.SourceAddress(), ip.DestinationAddress(), header.TCP(ip.Payload())
	default:
		return false
	}
	if len(tcp) < header.TCPMinimumSize {
		return false
	}
	return s == addr(src.Addr()) && d == addr(dst.Addr()) &&
		tcp.SourcePort() == src.Port() && tcp.DestinationPort() == dst.Port() &&
		tcp.Flags()&flags == flags
}
