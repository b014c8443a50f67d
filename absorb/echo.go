package absorb

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

const replyHopLimit = 64

// echoReply builds in out the reply to pkt if pkt is an ICMP or ICMPv6 echo
// request from a unicast source to a unicast address in pools (any address
// when pools is empty), and returns its length; otherwise 0. IPv4 requests
// with IP options or fragments are not answered.
func echoReply(pkt, out []byte, pools []netip.Prefix) int {
	if len(pkt) == 0 {
		return 0
	}
	switch pkt[0] >> 4 {
	case 4:
		return echoReply4(pkt, out, pools)
	case 6:
		return echoReply6(pkt, out, pools)
	}
	return 0
}

func inPools(a netip.Addr, pools []netip.Prefix) bool {
	if len(pools) == 0 {
		return true
	}
	for _, p := range pools {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func echoReply4(pkt, out []byte, pools []netip.Prefix) int {
	if len(pkt) < header.IPv4MinimumSize+header.ICMPv4MinimumSize {
		return 0
	}
	ip := header.IPv4(pkt)
	total := int(ip.TotalLength())
	if ip.HeaderLength() != header.IPv4MinimumSize || total > len(pkt) || total > len(out) ||
		total < header.IPv4MinimumSize+header.ICMPv4MinimumSize ||
		ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) || ip.More() || ip.FragmentOffset() != 0 {
		return 0
	}
	icmp := header.ICMPv4(pkt[header.IPv4MinimumSize:total])
	if icmp.Type() != header.ICMPv4Echo || icmp.Code() != 0 {
		return 0
	}
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	if !unicast(src) || !unicast(dst) || !inPools(dst, pools) {
		return 0
	}
	copy(out, pkt[:total])
	rip := header.IPv4(out[:total])
	rip.SetSourceAddress(tcpip.AddrFrom4(dst.As4()))
	rip.SetDestinationAddress(tcpip.AddrFrom4(src.As4()))
	rip.SetTTL(replyHopLimit)
	rip.SetChecksum(0)
	rip.SetChecksum(^rip.CalculateChecksum())
	ricmp := header.ICMPv4(out[header.IPv4MinimumSize:total])
	ricmp.SetType(header.ICMPv4EchoReply)
	ricmp.SetChecksum(0)
	ricmp.SetChecksum(^checksum.Checksum(ricmp, 0))
	return total
}

func echoReply6(pkt, out []byte, pools []netip.Prefix) int {
	if len(pkt) < header.IPv6MinimumSize+header.ICMPv6MinimumSize {
		return 0
	}
	ip := header.IPv6(pkt)
	total := header.IPv6MinimumSize + int(ip.PayloadLength())
	if total > len(pkt) || total > len(out) || total < header.IPv6MinimumSize+header.ICMPv6EchoMinimumSize ||
		ip.NextHeader() != uint8(header.ICMPv6ProtocolNumber) {
		return 0
	}
	icmp := header.ICMPv6(pkt[header.IPv6MinimumSize:total])
	if icmp.Type() != header.ICMPv6EchoRequest || icmp.Code() != 0 {
		return 0
	}
	src := netip.AddrFrom16([16]byte(pkt[8:24]))
	dst := netip.AddrFrom16([16]byte(pkt[24:40]))
	if !unicast(src) || !unicast(dst) || !inPools(dst, pools) {
		return 0
	}
	copy(out, pkt[:total])
	rip := header.IPv6(out[:total])
	newSrc, newDst := tcpip.AddrFrom16(dst.As16()), tcpip.AddrFrom16(src.As16())
	rip.SetSourceAddress(newSrc)
	rip.SetDestinationAddress(newDst)
	rip.SetHopLimit(replyHopLimit)
	ricmp := header.ICMPv6(out[header.IPv6MinimumSize:total])
	ricmp.SetType(header.ICMPv6EchoReply)
	ricmp.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: ricmp, Src: newSrc, Dst: newDst}))
	return total
}
