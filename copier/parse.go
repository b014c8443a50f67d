package copier

import (
	"encoding/binary"
	"net/netip"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// capPkt is what the engine needs from a captured client packet. Offsets
// index the packet's buffer.
type capPkt struct {
	orig   wire.Tuple // client -> online service, as captured
	route  int
	seq    seqnum.Value
	ack    seqnum.Value
	flags  header.TCPFlags
	win    uint16
	optOff int
	optLen int
	payOff int
	payLen int
	ts     int64 // capture time, unix nanoseconds
}

// parseCaptured fills p from an IPv4 or IPv6 TCP packet. It reports false
// for anything that is not a well-formed, unfragmented TCP segment.
func parseCaptured(pkt []byte, p *capPkt) bool {
	if len(pkt) < 1 {
		return false
	}
	var tcpOff, end int
	var src, dst netip.Addr
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < header.IPv4MinimumSize {
			return false
		}
		ip := header.IPv4(pkt)
		hl := int(ip.HeaderLength())
		if hl < header.IPv4MinimumSize || ip.Protocol() != uint8(header.TCPProtocolNumber) {
			return false
		}
		if ip.More() || ip.FragmentOffset() != 0 {
			return false
		}
		end = int(ip.TotalLength())
		if end == 0 { // GSO/BIG TCP super-packets may leave it zero
			end = len(pkt)
		}
		if end > len(pkt) || end < hl {
			return false
		}
		src = netip.AddrFrom4([4]byte(pkt[12:16]))
		dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		tcpOff = hl
	case 6:
		if len(pkt) < header.IPv6MinimumSize {
			return false
		}
		if pkt[6] != uint8(header.TCPProtocolNumber) {
			return false // extension headers are not followed
		}
		end = header.IPv6MinimumSize + int(binary.BigEndian.Uint16(pkt[4:6]))
		if end == header.IPv6MinimumSize {
			end = len(pkt)
		}
		if end > len(pkt) {
			return false
		}
		src = netip.AddrFrom16([16]byte(pkt[8:24]))
		dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		tcpOff = header.IPv6MinimumSize
	default:
		return false
	}
	if end-tcpOff < header.TCPMinimumSize {
		return false
	}
	t := header.TCP(pkt[tcpOff:end])
	doff := int(t.DataOffset())
	if doff < header.TCPMinimumSize || doff > len(t) {
		return false
	}
	p.orig = wire.Tuple{
		Client: netip.AddrPortFrom(src, t.SourcePort()),
		Target: netip.AddrPortFrom(dst, t.DestinationPort()),
	}
	p.seq = seqnum.Value(t.SequenceNumber())
	p.ack = seqnum.Value(t.AckNumber())
	p.flags = t.Flags()
	p.win = t.WindowSize()
	p.optOff = tcpOff + header.TCPMinimumSize
	p.optLen = doff - header.TCPMinimumSize
	p.payOff = tcpOff + doff
	p.payLen = end - p.payOff
	return true
}
