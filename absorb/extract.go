package absorb

import (
	"encoding/binary"
	"fmt"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Extract's verdicts, pkt's. ErrNotTCP and ErrFragment mean "give it to the
// netstack"; every error that wraps ErrMalformed means "drop and count".
var (
	// ErrNotTCP: a well-formed IPv4/IPv6 packet whose (first) next header is
	// not TCP: UDP, ICMP, and IPv6 with extension headers.
	ErrNotTCP = pkt.ErrNotTCP
	// ErrFragment: an IPv4 TCP fragment; only the netstack can reassemble it.
	ErrFragment = pkt.ErrFragment
	// ErrMalformed is wrapped by every header or length error.
	ErrMalformed = pkt.ErrMalformed

	// A TUN without GSO never hands over a length field of 0, so it is
	// malformed here (capture accepts it, for GRO super-packets).
	errLengthZero = fmt.Errorf("%w: IP length field 0", ErrMalformed)
)

// Extract parses one IP packet (IPv4 or IPv6 carrying TCP) into r: the tuple
// (Client = packet destination, Target = packet source), seq, ack, window,
// flags, payload length and options. r.Payload aliases up to payloadCap
// payload bytes of b (nil when there are none or payloadCap is 0).
// r.Time is left to the caller. Trailing bytes after the IP length are
// ignored. Checksums are not verified (the kernel that routed the packet
// already did). It never allocates.
func Extract(b []byte, r *wire.Record, payloadCap int) error {
	var v pkt.View
	err := pkt.Parse(b, &v)
	if v.SizedByBuffer && (!v.V6 || err != ErrNotTCP) {
		return errLengthZero
	}
	if err != nil {
		return err
	}
	fill(r, &v, payloadCap)
	return nil
}

// fill copies the segment v into r, with up to payloadCap payload bytes.
func fill(r *wire.Record, v *pkt.View, payloadCap int) {
	r.Tuple.Client = v.DstAddrPort()
	r.Tuple.Target = v.SrcAddrPort()
	r.Seq = uint32(v.Seq)
	r.Ack = uint32(v.Ack)
	r.Window = v.Window
	r.Flags = uint8(v.Flags)
	r.PayloadLen = uint16(len(v.Payload))
	r.Opts = parseOptions(v.Options)
	r.Payload = nil
	if n := min(len(v.Payload), payloadCap); n > 0 {
		r.Payload = v.Payload[:n:n]
	}
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
