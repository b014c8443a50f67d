package replay

// Loop shifting: the second and later loops of `replay --loops N` play the
// same TCP connections again. To the session engine (and to the target)
// the same 4-tuples would be the old sessions' stray packets (or reused
// ports), so every loop after the first moves the client address of each
// packet: loop k adds k to the address's first 16 bits (10.77.0.10 becomes
// 10.78.0.10 in loop 1). The engine maps any client address into the
// client pool, so the target sees pool addresses as always; only the
// sessions are new. Ports stay: shifting them would make loops collide
// with each other's connections of the same client.

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/replaygw/replaygw/pkt"
)

// LoopShift rewrites the client address of packets to or from the routes'
// servers (pkt.RewriteSrc/RewriteDst patch the checksums). It is used from
// the player's goroutine only: its SetLoop is Options.OnLoop and its Wrap
// goes around Play's handler.
type LoopShift struct {
	servers []netip.AddrPort
	loop    int
	buf     []byte
}

// NewLoopShift shifts the clients of the given servers.
func NewLoopShift(servers []netip.AddrPort) *LoopShift {
	return &LoopShift{servers: servers, buf: make([]byte, 0, 65536)}
}

// SetLoop is Options.OnLoop.
func (s *LoopShift) SetLoop(loop int) { s.loop = loop }

// Wrap returns h behind the rewrite; in the first loop packets pass
// untouched.
func (s *LoopShift) Wrap(h func([]byte, time.Time)) func([]byte, time.Time) {
	return func(b []byte, ts time.Time) {
		if s.loop == 0 {
			h(b, ts)
			return
		}
		h(s.shift(b), ts)
	}
}

// shift returns b with its client address moved, in s.buf, or b itself
// when it is not TCP (a whole segment or a first fragment) to or from a
// server.
func (s *LoopShift) shift(b []byte) []byte {
	var ip pkt.IP
	if pkt.ParseIP(b, &ip) != nil {
		return b
	}
	sport, dport, ok := pkt.Ports(b, &ip)
	if !ok {
		return b
	}
	rewrite := pkt.RewriteSrc // the client is the source
	client := ip.Src
	for _, sv := range s.servers {
		switch {
		case ip.Dst == sv.Addr() && dport == sv.Port():
		case ip.Src == sv.Addr() && sport == sv.Port():
			rewrite, client = pkt.RewriteDst, ip.Dst
		default:
			continue
		}
		out := append(s.buf[:0], b...)
		if rewrite(out, &ip, shiftAddr(client, s.loop)) != nil {
			return b // too short for a TCP checksum: left as captured
		}
		s.buf = out
		return out
	}
	return b
}

// shiftAddr adds loop to the first 16 bits of a.
func shiftAddr(a netip.Addr, loop int) netip.Addr {
	if a.Is4() {
		b := a.As4()
		binary.BigEndian.PutUint16(b[:], binary.BigEndian.Uint16(b[:])+uint16(loop))
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	binary.BigEndian.PutUint16(b[:], binary.BigEndian.Uint16(b[:])+uint16(loop))
	return netip.AddrFrom16(b)
}
