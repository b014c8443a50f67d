package absorb

import (
	"net/netip"

	"github.com/replaygw/replaygw/pkt"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

const replyHopLimit = 64

// echoReply builds in out the reply to b if b is an ICMP or ICMPv6 echo
// request from a unicast source to a unicast address in pools (any address
// when pools is empty), and returns its length; otherwise 0. IPv4 requests
// with IP options or fragments are not answered.
func echoReply(b, out []byte, pools []netip.Prefix) int {
	var ip pkt.IP
	if pkt.ParseIP(b, &ip) != nil || ip.SizedByBuffer || ip.End > len(out) || ip.Fragment() ||
		!unicast(ip.Src) || !unicast(ip.Dst) || !inPools(ip.Dst, pools) {
		return 0
	}
	if ip.V6 {
		return echoReply6(b[:ip.End], out, &ip)
	}
	return echoReply4(b[:ip.End], out)
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

// echoReply4 answers the IPv4 packet b (cut to its length), if it is an
// echo request without IP options.
func echoReply4(b, out []byte) int {
	ip := header.IPv4(b)
	if len(b) < header.IPv4MinimumSize+header.ICMPv4MinimumSize || ip.HeaderLength() != header.IPv4MinimumSize ||
		ip.TransportProtocol() != header.ICMPv4ProtocolNumber {
		return 0
	}
	icmp := header.ICMPv4(b[header.IPv4MinimumSize:])
	if icmp.Type() != header.ICMPv4Echo || icmp.Code() != 0 {
		return 0
	}
	total := copy(out, b)
	rip := header.IPv4(out[:total])
	rip.SetSourceAddress(ip.DestinationAddress())
	rip.SetDestinationAddress(ip.SourceAddress())
	rip.SetTTL(replyHopLimit)
	rip.SetChecksum(0)
	rip.SetChecksum(^rip.CalculateChecksum())
	ricmp := header.ICMPv4(out[header.IPv4MinimumSize:total])
	ricmp.SetType(header.ICMPv4EchoReply)
	ricmp.SetChecksum(0)
	ricmp.SetChecksum(^checksum.Checksum(ricmp, 0))
	return total
}

// echoReply6 answers the IPv6 packet b (cut to its length), if it is an
// echo request.
func echoReply6(b, out []byte, ip *pkt.IP) int {
	if len(b) < header.IPv6MinimumSize+header.ICMPv6EchoMinimumSize || ip.Protocol != header.ICMPv6ProtocolNumber {
		return 0
	}
	icmp := header.ICMPv6(b[header.IPv6MinimumSize:])
	if icmp.Type() != header.ICMPv6EchoRequest || icmp.Code() != 0 {
		return 0
	}
	total := copy(out, b)
	rip := header.IPv6(out[:total])
	newSrc, newDst := tcpip.AddrFrom16(ip.Dst.As16()), tcpip.AddrFrom16(ip.Src.As16())
	rip.SetSourceAddress(newSrc)
	rip.SetDestinationAddress(newDst)
	rip.SetHopLimit(replyHopLimit)
	ricmp := header.ICMPv6(out[header.IPv6MinimumSize:total])
	ricmp.SetType(header.ICMPv6EchoReply)
	ricmp.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: ricmp, Src: newSrc, Dst: newDst}))
	return total
}
