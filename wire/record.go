// Package wire is the control-channel protocol between a copier and a
// gateway: the framing, the authenticated handshake, lease registration and
// the batched response records that carry the target's TCP header facts back
// to the copier that owns the session.
//
// Every message is a frame:
//
//	+----------------+--------+---------------------+
//	| length uint32  | type   | body (length-1 B)   |
//	+----------------+--------+---------------------+
//
// A channel (protocol version 2): both sides send a hello (the copier's
// carries its instance identity) and an HMAC proof over both fresh nonces;
// the gateway answers auth-ok with the copier's share of the client pool.
// Then the copier sends lease-add and lease-release batches, the gateway
// sends records, share updates and lease-refused batches (tuples another
// copier holds), and both ping. Before authentication no frame may exceed
// MaxHandshakeFrame.
//
// Capabilities in the hellos extend a channel without a version change:
// with CapLeaseFlags on both sides each lease-add entry ends in a flags
// byte (LeasePayload: that lease's records carry the segment's whole
// payload, up to MaxRecordPayload, instead of the connection's payload
// cap); a gateway announcing CapExchange takes exchange frames (one
// compared request each, exchange.go), which a copier sends to no other.
//
// All integers are big-endian. Addresses are always carried as 16 bytes
// (IPv4 as IPv4-mapped IPv6) behind a family byte, so every record of a batch
// has the same fixed part and decoding never allocates.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Tuple names one replayed TCP session as the target sees it: the
// (rewritten) client address and port, and the target service.
type Tuple struct {
	Client netip.AddrPort
	Target netip.AddrPort
}

func (t Tuple) String() string { return t.Client.String() + "->" + t.Target.String() }

// Valid reports whether both ends are set and of the same family.
func (t Tuple) Valid() bool {
	return t.Client.IsValid() && t.Target.IsValid() &&
		t.Client.Addr().Is4() == t.Target.Addr().Is4()
}

// TCP flag bits as they appear in the TCP header.
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// Option presence bits in Options.Has.
const (
	OptMSS uint8 = 1 << iota
	OptWScale
	OptSACKPermitted
	OptTimestamp
)

// Options are the TCP options of a response segment that the copier uses.
type Options struct {
	Has    uint8 // Opt* bits
	WScale uint8
	MSS    uint16
	TSVal  uint32
	TSEcr  uint32
}

// Record is one TCP segment the target sent towards the client pool, as the
// gateway saw it.
type Record struct {
	Tuple      Tuple
	Seq, Ack   uint32
	Window     uint16
	Flags      uint8
	PayloadLen uint16 // length of the segment's payload on the wire
	Opts       Options
	Time       int64  // when the gateway read it, Unix nanoseconds
	Payload    []byte // first bytes of the payload, when the copier asked for them
}

// Has reports whether every bit of f is set in the record's flags.
func (r *Record) Has(f uint8) bool { return r.Flags&f == f }

const (
	tupleSize = 1 + 16 + 2 + 16 + 2
	// RecordFixedSize is the encoded size of a record without payload bytes:
	// tuple, seq, ack, window, flags, payload length, option bits, window
	// scale, a reserved byte, MSS, TSval, TSecr, time, carried length.
	RecordFixedSize = tupleSize + 4 + 4 + 2 + 1 + 2 + 1 + 1 + 1 + 2 + 4 + 4 + 8 + 2
)

// MaxRecordPayload is the most payload one record carries: a whole TCP
// segment (its payload length is a 16-bit field).
const MaxRecordPayload = 1<<16 - 1

var (
	errShort  = errors.New("truncated")
	errFamily = errors.New("bad address family")
)

// AppendTuple appends the encoding of t to b.
func AppendTuple(b []byte, t Tuple) []byte {
	// Family 4 only when both ends are IPv4 (or IPv4-mapped): anything
	// else must travel as family 6, or the peer could not decode it.
	fam := byte(6)
	if ca, sa := t.Client.Addr(), t.Target.Addr(); (ca.Is4() || ca.Is4In6()) && (sa.Is4() || sa.Is4In6()) {
		fam = 4
	}
	b = append(b, fam)
	c := t.Client.Addr().As16()
	b = append(b, c[:]...)
	b = binary.BigEndian.AppendUint16(b, t.Client.Port())
	s := t.Target.Addr().As16()
	b = append(b, s[:]...)
	return binary.BigEndian.AppendUint16(b, t.Target.Port())
}

// DecodeTuple reads a tuple from the front of b.
func DecodeTuple(b []byte) (Tuple, error) {
	if len(b) < tupleSize {
		return Tuple{}, errShort
	}
	var t Tuple
	var c, s [16]byte
	copy(c[:], b[1:17])
	copy(s[:], b[19:35])
	ca, sa := netip.AddrFrom16(c), netip.AddrFrom16(s)
	switch b[0] {
	case 4:
		if !ca.Is4In6() || !sa.Is4In6() {
			return Tuple{}, errFamily
		}
		ca, sa = ca.Unmap(), sa.Unmap()
	case 6:
	default:
		return Tuple{}, errFamily
	}
	t.Client = netip.AddrPortFrom(ca, binary.BigEndian.Uint16(b[17:19]))
	t.Target = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(b[35:37]))
	return t, nil
}

// AppendRecord appends the encoding of r to b. At most maxPayload bytes of
// r.Payload are carried.
func AppendRecord(b []byte, r *Record, maxPayload int) []byte {
	b = AppendTuple(b, r.Tuple)
	b = binary.BigEndian.AppendUint32(b, r.Seq)
	b = binary.BigEndian.AppendUint32(b, r.Ack)
	b = binary.BigEndian.AppendUint16(b, r.Window)
	b = append(b, r.Flags)
	b = binary.BigEndian.AppendUint16(b, r.PayloadLen)
	b = append(b, r.Opts.Has, r.Opts.WScale, 0)
	b = binary.BigEndian.AppendUint16(b, r.Opts.MSS)
	b = binary.BigEndian.AppendUint32(b, r.Opts.TSVal)
	b = binary.BigEndian.AppendUint32(b, r.Opts.TSEcr)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	p := r.Payload
	if len(p) > maxPayload {
		p = p[:maxPayload]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	return append(b, p...)
}

// DecodeRecord reads one record from the front of b into r and returns the
// number of bytes used. r.Payload aliases b.
func DecodeRecord(b []byte, r *Record) (int, error) {
	if len(b) < RecordFixedSize {
		return 0, fmt.Errorf("record: %w (%d of %d bytes)", errShort, len(b), RecordFixedSize)
	}
	t, err := DecodeTuple(b)
	if err != nil {
		return 0, fmt.Errorf("record: tuple: %w", err)
	}
	r.Tuple = t
	p := b[tupleSize:]
	r.Seq = binary.BigEndian.Uint32(p[0:])
	r.Ack = binary.BigEndian.Uint32(p[4:])
	r.Window = binary.BigEndian.Uint16(p[8:])
	r.Flags = p[10]
	r.PayloadLen = binary.BigEndian.Uint16(p[11:])
	r.Opts.Has = p[13]
	r.Opts.WScale = p[14]
	r.Opts.MSS = binary.BigEndian.Uint16(p[16:])
	r.Opts.TSVal = binary.BigEndian.Uint32(p[18:])
	r.Opts.TSEcr = binary.BigEndian.Uint32(p[22:])
	r.Time = int64(binary.BigEndian.Uint64(p[26:]))
	n := int(binary.BigEndian.Uint16(p[34:]))
	if n > int(r.PayloadLen) {
		return 0, fmt.Errorf("record: carries %d payload bytes of a %d-byte segment", n, r.PayloadLen)
	}
	if len(b) < RecordFixedSize+n {
		return 0, fmt.Errorf("record: payload %w (%d of %d bytes)", errShort, len(b)-RecordFixedSize, n)
	}
	r.Payload = b[RecordFixedSize : RecordFixedSize+n : RecordFixedSize+n]
	return RecordFixedSize + n, nil
}
