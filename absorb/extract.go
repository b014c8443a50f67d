package absorb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Extract's verdicts. ErrNotTCP and ErrFragment mean "give it to the
// netstack"; every error that wraps ErrMalformed means "drop and count".
var (
	// ErrNotTCP: a well-formed IPv4/IPv6 packet whose (first) next header is
	// not TCP: UDP, ICMP, and IPv6 with extension headers.
	ErrNotTCP = errors.New("not TCP")
	// ErrFragment: an IPv4 TCP fragment; only the netstack can reassemble it.
	ErrFragment = errors.New("IPv4 fragment")
	// ErrMalformed is wrapped by every header or length error.
	ErrMalformed = errors.New("malformed")

	errVersion    = fmt.Errorf("%w: IP version is neither 4 nor 6", ErrMalformed)
	errShortIPv4  = fmt.Errorf("%w: shorter than an IPv4 header", ErrMalformed)
	errBadIHL     = fmt.Errorf("%w: bad IPv4 header length", ErrMalformed)
	errBadTotal   = fmt.Errorf("%w: IPv4 total length outside the packet", ErrMalformed)
	errShortIPv6  = fmt.Errorf("%w: shorter than an IPv6 header", ErrMalformed)
	errBadPayload = fmt.Errorf("%w: IPv6 payload length outside the packet", ErrMalformed)
	errShortTCP   = fmt.Errorf("%w: shorter than a TCP header", ErrMalformed)
	errBadOffset  = fmt.Errorf("%w: bad TCP data offset", ErrMalformed)
)

// Extract parses one IP packet (IPv4 or IPv6 carrying TCP) into r: the tuple
// (Client = packet destination, Target = packet source), seq, ack, window,
// flags, payload length and options. r.Payload aliases up to payloadCap
// payload bytes of pkt (nil when there are none or payloadCap is 0).
// r.Time is left to the caller. Trailing bytes after the IP length are
// ignored. Checksums are not verified (the kernel that routed the packet
// already did). It never allocates.
func Extract(pkt []byte, r *wire.Record, payloadCap int) error {
	if len(pkt) == 0 {
		return errVersion
	}
	switch pkt[0] >> 4 {
	case 4:
		return extract4(pkt, r, payloadCap)
	case 6:
		return extract6(pkt, r, payloadCap)
	}
	return errVersion
}

func extract4(pkt []byte, r *wire.Record, payloadCap int) error {
	if len(pkt) < header.IPv4MinimumSize {
		return errShortIPv4
	}
	ip := header.IPv4(pkt)
	ihl := int(ip.HeaderLength())
	if ihl < header.IPv4MinimumSize || ihl > len(pkt) {
		return errBadIHL
	}
	total := int(ip.TotalLength())
	if total < ihl || total > len(pkt) {
		return errBadTotal
	}
	if ip.Protocol() != uint8(header.TCPProtocolNumber) {
		return ErrNotTCP
	}
	if ip.More() || ip.FragmentOffset() != 0 {
		return ErrFragment
	}
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	return fillTCP(r, pkt[ihl:total], src, dst, payloadCap)
}

func extract6(pkt []byte, r *wire.Record, payloadCap int) error {
	if len(pkt) < header.IPv6MinimumSize {
		return errShortIPv6
	}
	ip := header.IPv6(pkt)
	end := header.IPv6MinimumSize + int(ip.PayloadLength())
	if end > len(pkt) {
		return errBadPayload
	}
	if ip.NextHeader() != uint8(header.TCPProtocolNumber) {
		return ErrNotTCP
	}
	src := netip.AddrFrom16([16]byte(pkt[8:24]))
	dst := netip.AddrFrom16([16]byte(pkt[24:40]))
	return fillTCP(r, pkt[header.IPv6MinimumSize:end], src, dst, payloadCap)
}

// fillTCP fills r from a TCP segment (header, options and payload, exactly).
func fillTCP(r *wire.Record, seg []byte, src, dst netip.Addr, payloadCap int) error {
	if len(seg) < header.TCPMinimumSize {
		return errShortTCP
	}
	tcp := header.TCP(seg)
	off := int(tcp.DataOffset())
	if off < header.TCPMinimumSize || off > len(seg) {
		return errBadOffset
	}
	payload := seg[off:]
	r.Tuple.Client = netip.AddrPortFrom(dst, tcp.DestinationPort())
	r.Tuple.Target = netip.AddrPortFrom(src, tcp.SourcePort())
	r.Seq = tcp.SequenceNumber()
	r.Ack = tcp.AckNumber()
	r.Window = tcp.WindowSize()
	r.Flags = uint8(tcp.Flags())
	r.PayloadLen = uint16(len(payload))
	r.Opts = parseOptions(seg[header.TCPMinimumSize:off])
	r.Payload = nil
	if n := min(len(payload), payloadCap); n > 0 {
		r.Payload = payload[:n:n]
	}
	return nil
}

// parseOptions reads the options the copier uses. gVisor's ParseSynOptions
// cannot say whether MSS was present (it defaults to 536) and
// ParseTCPOptions allocates for SACK blocks, so this walks the option list
// itself with gVisor's option kinds. A malformed option ends the walk and
// keeps what was read before it, as a TCP receiver would.
func parseOptions(b []byte) wire.Options {
	var o wire.Options
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case header.TCPOptionEOL:
			return o
		case header.TCPOptionNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return o
		}
		l := int(b[i+1])
		if l < 2 || i+l > len(b) {
			return o
		}
		v := b[i+2 : i+l]
		switch {
		case kind == header.TCPOptionMSS && l == header.TCPOptionMSSLength:
			o.Has |= wire.OptMSS
			o.MSS = binary.BigEndian.Uint16(v)
		case kind == header.TCPOptionWS && l == header.TCPOptionWSLength:
			o.Has |= wire.OptWScale
			o.WScale = v[0]
		case kind == header.TCPOptionSACKPermitted && l == header.TCPOptionSackPermittedLength:
			o.Has |= wire.OptSACKPermitted
		case kind == header.TCPOptionTS && l == header.TCPOptionTSLength:
			o.Has |= wire.OptTimestamp
			o.TSVal = binary.BigEndian.Uint32(v)
			o.TSEcr = binary.BigEndian.Uint32(v[4:])
		}
		i += l
	}
	return o
}
