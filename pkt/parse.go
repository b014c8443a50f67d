package pkt

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// IP is the network layer of a packet, as ParseIP reads it. Offsets index
// the parsed buffer.
type IP struct {
	Src, Dst netip.Addr
	// Protocol is IPv4's protocol field or IPv6's first next header.
	Protocol tcpip.TransportProtocolNumber
	V6       bool
	// L4 is where the transport header starts (the IPv4 header length, or
	// 40 for IPv6); End is where the IP packet ends (bytes after it, such
	// as Ethernet padding, are not part of the packet).
	L4, End int
	// FragmentOffset (in bytes) and MoreFragments are IPv4's fragment
	// fields; both are zero for a packet that is not a fragment.
	FragmentOffset uint16
	MoreFragments  bool
	// SizedByBuffer reports a length field of 0 (GSO/BIG TCP super-packets,
	// IPv6 jumbograms): End is then the end of the buffer.
	SizedByBuffer bool
}

// Fragment reports whether the packet is an IPv4 fragment.
func (ip *IP) Fragment() bool { return ip.MoreFragments || ip.FragmentOffset != 0 }

// View is one parsed TCP segment. Options and Payload alias the parsed
// buffer.
type View struct {
	IP
	SrcPort, DstPort uint16
	Seq, Ack         seqnum.Value
	Flags            header.TCPFlags
	Window           uint16
	// DataOffset is the TCP header length, options included.
	DataOffset int
	Options    []byte
	Payload    []byte
}

// SrcAddrPort is the sender's address and port.
func (v *View) SrcAddrPort() netip.AddrPort { return netip.AddrPortFrom(v.Src, v.SrcPort) }

// DstAddrPort is the receiver's address and port.
func (v *View) DstAddrPort() netip.AddrPort { return netip.AddrPortFrom(v.Dst, v.DstPort) }

// OptionsOffset is where the TCP options start in the parsed buffer.
func (v *View) OptionsOffset() int { return v.L4 + header.TCPMinimumSize }

// PayloadOffset is where the payload starts in the parsed buffer.
func (v *View) PayloadOffset() int { return v.L4 + v.DataOffset }

// ParseIP fills ip from the IPv4 or IPv6 header at the start of b. It checks
// the header and length fields; any protocol and fragment are accepted.
// Errors wrap ErrMalformed.
func ParseIP(b []byte, ip *IP) error {
	if len(b) == 0 {
		return ErrEmpty
	}
	switch b[0] >> 4 {
	case 4:
		return parseIPv4(b, ip)
	case 6:
		return parseIPv6(b, ip)
	}
	return ErrVersion
}

func parseIPv4(b []byte, ip *IP) error {
	if len(b) < header.IPv4MinimumSize {
		return ErrShortIPv4
	}
	h := header.IPv4(b)
	ihl := int(h.HeaderLength())
	if ihl < header.IPv4MinimumSize || ihl > len(b) {
		return ErrIHL
	}
	end := int(h.TotalLength())
	// Field by field: a composite literal through the pointer costs a
	// copy of the whole struct.
	ip.Src = netip.AddrFrom4([4]byte(b[12:16]))
	ip.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	ip.Protocol = h.TransportProtocol()
	ip.V6 = false
	ip.L4, ip.End, ip.SizedByBuffer = ihl, end, false
	ip.FragmentOffset, ip.MoreFragments = h.FragmentOffset(), h.More()
	switch {
	case end == 0:
		ip.End, ip.SizedByBuffer = len(b), true
	case end < ihl:
		return ErrTotalLength
	case end > len(b):
		return ErrLongIPv4
	}
	return nil
}

func parseIPv6(b []byte, ip *IP) error {
	if len(b) < header.IPv6MinimumSize {
		return ErrShortIPv6
	}
	h := header.IPv6(b)
	end := header.IPv6MinimumSize + int(h.PayloadLength())
	ip.Src = netip.AddrFrom16([16]byte(b[8:24]))
	ip.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	ip.Protocol = tcpip.TransportProtocolNumber(h.NextHeader())
	ip.V6 = true
	ip.L4, ip.End, ip.SizedByBuffer = header.IPv6MinimumSize, end, false
	ip.FragmentOffset, ip.MoreFragments = 0, false
	switch {
	case end == header.IPv6MinimumSize:
		ip.End, ip.SizedByBuffer = len(b), true
	case end > len(b):
		return ErrLongIPv6
	}
	return nil
}

// Parse fills v from the IPv4 or IPv6 TCP packet at the start of b. Bytes
// after the IP packet's length are ignored; a length field of 0 takes the
// whole buffer (see IP.SizedByBuffer). Checksums are not verified. A packet
// that is not TCP gives ErrNotTCP and a fragment ErrFragment, with v.IP
// filled; header and length errors wrap ErrMalformed. It never allocates.
func Parse(b []byte, v *View) error {
	var err error
	if len(b) != 0 && b[0]>>4 == 4 {
		err = parseIPv4(b, &v.IP) // the common case, one call level less
	} else {
		err = ParseIP(b, &v.IP)
	}
	if err != nil {
		return err
	}
	if v.Protocol != header.TCPProtocolNumber {
		return ErrNotTCP
	}
	if v.Fragment() {
		return ErrFragment
	}
	return ParseTCP(b[v.L4:v.End], v)
}

// ParseTCP fills v's TCP fields from seg, a TCP header and its payload
// exactly (v.IP is left as it is: a caller that got the segment from
// elsewhere, such as gVisor's netstack, fills it). Errors wrap
// ErrMalformed. It never allocates.
func ParseTCP(seg []byte, v *View) error {
	if len(seg) < header.TCPMinimumSize {
		return ErrShortTCP
	}
	t := header.TCP(seg)
	off := int(t.DataOffset())
	if off < header.TCPMinimumSize || off > len(seg) {
		return ErrDataOffset
	}
	v.SrcPort = t.SourcePort()
	v.DstPort = t.DestinationPort()
	v.Seq = seqnum.Value(t.SequenceNumber())
	v.Ack = seqnum.Value(t.AckNumber())
	v.Flags = t.Flags()
	v.Window = t.WindowSize()
	v.DataOffset = off
	v.Options = seg[header.TCPMinimumSize:off:off]
	v.Payload = seg[off:]
	return nil
}

// Ports reads the TCP ports of a packet whose network layer ip describes
// (it may be a first fragment). It reports false when the packet is not
// TCP, is a later fragment, or is too short to hold them.
func Ports(b []byte, ip *IP) (src, dst uint16, ok bool) {
	if ip.Protocol != header.TCPProtocolNumber || ip.FragmentOffset != 0 || ip.End-ip.L4 < 4 {
		return 0, 0, false
	}
	t := header.TCP(b[ip.L4:ip.End])
	return t.SourcePort(), t.DestinationPort(), true
}
