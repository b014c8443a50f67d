package doctor

import (
	"net/netip"

	"github.com/replaygw/replaygw/pkt"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// probeSegment builds an IPv4 or IPv6 packet carrying one TCP segment with
// no payload, from src to dst. A SYN carries an MSS option.
func probeSegment(src, dst netip.AddrPort, seq, ack uint32, flags header.TCPFlags, mss uint16) []byte {
	s := pkt.Segment{
		Src: src, Dst: dst,
		Seq: seqnum.Value(seq), Ack: seqnum.Value(ack),
		Flags: flags, Window: 64240,
		ID: uint16(seq),
	}
	var opt [header.TCPOptionMSSLength]byte
	if flags&header.TCPFlagSyn != 0 {
		header.EncodeMSSOption(uint32(mss), opt[:])
		s.Options = opt[:]
	}
	b := make([]byte, s.Size())
	if _, err := pkt.Build(b, &s); err != nil {
		// Build fails only for mixed address families, which probe
		// refuses before it builds anything.
		panic("doctor: probe segment: " + err.Error())
	}
	return b
}

// segmentFrom parses an IP packet and reports whether it is a TCP segment
// from src to dst with the given flags set.
func segmentFrom(b []byte, src, dst netip.AddrPort, flags header.TCPFlags) bool {
	var v pkt.View
	return pkt.Parse(b, &v) == nil && v.SrcAddrPort() == src && v.DstAddrPort() == dst && v.Flags&flags == flags
}
