package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unicode/utf8"
)

// Exchange is one finished request of a replayed session and its two
// responses, sent by a copier to a gateway that compares them (an
// exchange frame, when the gateway announced CapExchange). It carries the
// copier engine's ExchangeSource and protocol.Exchange, flattened: the
// wire package imports neither.
//
// Body of an exchange frame (big-endian):
//
//	format  u8 (ExchangeFormat)
//	flags   u8 (Exchange* bits)
//	route   u16, copy u16, conn u64
//	client  family u8 (0 none, 4, 6) + 16-byte address + port u16
//	target  the same
//	request u32
//	client bytes, target in, online bytes, target bytes: u32 each
//	online sent, first, last; target sent, first, last: i64 each (Unix ns)
//	protocol u8 length + bytes; kind u8 length + bytes; key u16 length + bytes
//	request data, online data, target data: u32 length + bytes each
//
// Nothing may follow the target data.
type Exchange struct {
	Flags  uint8 // Exchange* bits
	Route  uint16
	Copy   uint16
	Conn   uint64
	Client netip.AddrPort // the real client, as captured
	Target netip.AddrPort // where the session was replayed

	Protocol string // the route's protocol name ("http", "redis", "mysql", "tcp")
	Request  uint32
	Kind     string
	Key      string

	ClientBytes, TargetIn, OnlineBytes, TargetBytes uint32

	OnlineSent, OnlineFirst, OnlineLast int64
	TargetSent, TargetFirst, TargetLast int64

	RequestData, OnlineData, TargetData []byte // alias the frame body after DecodeExchange
}

// Exchange flag bits.
const (
	// ExchangeNoise: the session went to the route's noise target (a
	// second target running production's build).
	ExchangeNoise uint8 = 1 << iota
	// ExchangeHasNoise: the route also replays to a noise target, so a
	// noise exchange for the same connection and request will follow.
	ExchangeHasNoise
	// ExchangeTruncated: some payload was cut (by the protocol's bound or
	// to fit the frame).
	ExchangeTruncated
	// ExchangeSame: the protocol found the two responses alike.
	ExchangeSame

	knownExchangeFlags = ExchangeNoise | ExchangeHasNoise | ExchangeTruncated | ExchangeSame
)

// ExchangeFormat is the first byte of an exchange body; a body of another
// format is refused.
const ExchangeFormat = 1

// Limits of the exchange's text fields.
const (
	MaxExchangeProtocol = 32
	MaxExchangeKind     = 255
	MaxExchangeKey      = 1024
)

const (
	addrPortSize = 1 + 16 + 2
	// exchangeFixed is the size of an exchange body without its texts
	// and payloads (their length fields included).
	exchangeFixed = 1 + 1 + 2 + 2 + 8 + 2*addrPortSize + 4 + 4*4 + 6*8 + 1 + 1 + 2 + 3*4
)

// ExchangeOverhead is the size of an exchange body besides its three
// payloads, at the longest texts: a sender keeps the payloads under
// MaxFrame - ExchangeOverhead.
const ExchangeOverhead = exchangeFixed + MaxExchangeProtocol + MaxExchangeKind + MaxExchangeKey

// ExchangeSize is the encoded size of x (texts cut to their limits).
func ExchangeSize(x *Exchange) int {
	return exchangeFixed + min(len(x.Protocol), MaxExchangeProtocol) + min(len(x.Kind), MaxExchangeKind) +
		min(len(x.Key), MaxExchangeKey) + len(x.RequestData) + len(x.OnlineData) + len(x.TargetData)
}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	fam := byte(0)
	switch {
	case !ap.IsValid():
	case ap.Addr().Is4() || ap.Addr().Is4In6():
		fam = 4
	default:
		fam = 6
	}
	b = append(b, fam)
	a := ap.Addr().As16()
	if fam == 0 {
		a = [16]byte{}
	}
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func decodeAddrPort(b []byte) (netip.AddrPort, error) {
	var a16 [16]byte
	copy(a16[:], b[1:17])
	a := netip.AddrFrom16(a16)
	port := binary.BigEndian.Uint16(b[17:19])
	switch b[0] {
	case 0:
		if a16 != [16]byte{} || port != 0 {
			return netip.AddrPort{}, errors.New("no address, but address bytes or a port are set")
		}
		return netip.AddrPort{}, nil
	case 4:
		if !a.Is4In6() {
			return netip.AddrPort{}, fmt.Errorf("family 4 with the IPv6 address %s", a)
		}
		a = a.Unmap()
	case 6:
		if a.Is4In6() {
			return netip.AddrPort{}, fmt.Errorf("family 6 with the IPv4-mapped address %s", a)
		}
	default:
		return netip.AddrPort{}, fmt.Errorf("%w %d", errFamily, b[0])
	}
	return netip.AddrPortFrom(a, port), nil
}

// AppendExchange appends the exchange body of x to b. Texts longer than
// their limits are cut; the payloads are carried whole (the caller keeps
// ExchangeSize(x) under MaxFrame).
func AppendExchange(b []byte, x *Exchange) []byte {
	b = append(b, ExchangeFormat, x.Flags&knownExchangeFlags)
	b = binary.BigEndian.AppendUint16(b, x.Route)
	b = binary.BigEndian.AppendUint16(b, x.Copy)
	b = binary.BigEndian.AppendUint64(b, x.Conn)
	b = appendAddrPort(b, x.Client)
	b = appendAddrPort(b, x.Target)
	b = binary.BigEndian.AppendUint32(b, x.Request)
	for _, v := range [...]uint32{x.ClientBytes, x.TargetIn, x.OnlineBytes, x.TargetBytes} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for _, v := range [...]int64{x.OnlineSent, x.OnlineFirst, x.OnlineLast, x.TargetSent, x.TargetFirst, x.TargetLast} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	p := cutText(x.Protocol, MaxExchangeProtocol)
	b = append(append(b, byte(len(p))), p...)
	k := cutText(x.Kind, MaxExchangeKind)
	b = append(append(b, byte(len(k))), k...)
	key := cutText(x.Key, MaxExchangeKey)
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	for _, d := range [...][]byte{x.RequestData, x.OnlineData, x.TargetData} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
		b = append(b, d...)
	}
	return b
}

// cutText cuts s to at most n bytes without splitting a UTF-8 sequence.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// exchangeReader reads the fields of an exchange body in order; the first
// failure sticks and names the field.
type exchangeReader struct {
	b   []byte
	off int
	err error
}

func (r *exchangeReader) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.err = fmt.Errorf("%s: %w at byte %d (%d wanted, %d left)", field, errShort, r.off, n, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *exchangeReader) u8(field string) uint8 {
	if p := r.take(1, field); p != nil {
		return p[0]
	}
	return 0
}

func (r *exchangeReader) u16(field string) uint16 {
	if p := r.take(2, field); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *exchangeReader) u32(field string) uint32 {
	if p := r.take(4, field); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *exchangeReader) u64(field string) uint64 {
	if p := r.take(8, field); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *exchangeReader) i64(field string) int64 {
	if r.err == nil {
		v := int64(r.u64(field))
		if r.err == nil && v < 0 {
			r.err = fmt.Errorf("%s: negative time %d", field, v)
		}
		return v
	}
	return 0
}

func (r *exchangeReader) addr(field string) netip.AddrPort {
	p := r.take(addrPortSize, field)
	if p == nil {
		return netip.AddrPort{}
	}
	ap, err := decodeAddrPort(p)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", field, err)
	}
	return ap
}

func (r *exchangeReader) text(n int, max int, field string) string {
	if r.err == nil && n > max {
		r.err = fmt.Errorf("%s: %d bytes (limit %d)", field, n, max)
	}
	p := r.take(n, field)
	if r.err == nil && !utf8.Valid(p) {
		r.err = fmt.Errorf("%s: not UTF-8", field)
	}
	return string(p)
}

// DecodeExchange parses an exchange body into x. The payloads alias b;
// the texts are copied. Every field is checked: the format, unknown flag
// bits, address families, negative times, text limits and UTF-8, an empty
// protocol name, lengths that run past the body and trailing bytes are
// errors naming the field.
func DecodeExchange(b []byte, x *Exchange) error {
	if len(b) > MaxFrame {
		return fmt.Errorf("exchange: %d bytes (limit %d)", len(b), MaxFrame)
	}
	r := exchangeReader{b: b}
	if f := r.u8("format"); r.err == nil && f != ExchangeFormat {
		return fmt.Errorf("exchange: format %d, this build reads format %d", f, ExchangeFormat)
	}
	*x = Exchange{}
	x.Flags = r.u8("flags")
	if r.err == nil && x.Flags&^knownExchangeFlags != 0 {
		return fmt.Errorf("exchange: flags %#02x: unknown bits %#02x", x.Flags, x.Flags&^knownExchangeFlags)
	}
	x.Route = r.u16("route")
	x.Copy = r.u16("copy")
	x.Conn = r.u64("conn")
	x.Client = r.addr("client")
	x.Target = r.addr("target")
	x.Request = r.u32("request")
	x.ClientBytes = r.u32("client bytes")
	x.TargetIn = r.u32("target in")
	x.OnlineBytes = r.u32("online bytes")
	x.TargetBytes = r.u32("target bytes")
	x.OnlineSent = r.i64("online sent")
	x.OnlineFirst = r.i64("online first")
	x.OnlineLast = r.i64("online last")
	x.TargetSent = r.i64("target sent")
	x.TargetFirst = r.i64("target first")
	x.TargetLast = r.i64("target last")
	x.Protocol = r.text(int(r.u8("protocol length")), MaxExchangeProtocol, "protocol")
	if r.err == nil && x.Protocol == "" {
		return errors.New("exchange: empty protocol name")
	}
	x.Kind = r.text(int(r.u8("kind length")), MaxExchangeKind, "kind")
	x.Key = r.text(int(r.u16("key length")), MaxExchangeKey, "key")
	x.RequestData = r.take(int(r.u32("request data length")), "request data")
	x.OnlineData = r.take(int(r.u32("online data length")), "online data")
	x.TargetData = r.take(int(r.u32("target data length")), "target data")
	if r.err != nil {
		return fmt.Errorf("exchange: %w", r.err)
	}
	if r.off != len(b) {
		return fmt.Errorf("exchange: %d trailing bytes after the target data", len(b)-r.off)
	}
	return nil
}
