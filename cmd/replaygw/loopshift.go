package main

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
)

// loopShift rewrites the client address of packets to or from the routes'
// servers. It is used from the player's goroutine only.
type loopShift struct {
	servers []netip.AddrPort
	loop    int
	buf     []byte
}

func newLoopShift(servers []netip.AddrPort) *loopShift {
	return &loopShift{servers: servers, buf: make([]byte, 0, 65536)}
}

// setLoop is replay.Options.OnLoop.
func (s *loopShift) setLoop(loop int) { s.loop = loop }

// wrap returns h behind the rewrite; in the first loop packets pass
// untouched.
func (s *loopShift) wrap(h func([]byte, time.Time)) func([]byte, time.Time) {
	return func(pkt []byte, ts time.Time) {
		if s.loop == 0 {
			h(pkt, ts)
			return
		}
		h(s.shift(pkt), ts)
	}
}

// shift returns pkt with its client address moved, in s.buf, or pkt itself
// when it is not TCP to or from a server.
func (s *loopShift) shift(pkt []byte) []byte {
	var src, dst netip.Addr
	var l4, srcAt, dstAt int
	v4 := false
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		l4, srcAt, dstAt, v4 = int(pkt[0]&0x0f)*4, 12, 16, true
		if pkt[9] != 6 || binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 { // TCP, first fragment
			return pkt
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		l4, srcAt, dstAt = 40, 8, 24
		if pkt[6] != 6 {
			return pkt
		}
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
	default:
		return pkt
	}
	if len(pkt) < l4+18 { // ports and checksum
		return pkt
	}
	sport, dport := binary.BigEndian.Uint16(pkt[l4:]), binary.BigEndian.Uint16(pkt[l4+2:])
	at := -1 // offset of the client address
	for _, sv := range s.servers {
		switch {
		case dst == sv.Addr() && dport == sv.Port():
			at = srcAt
		case src == sv.Addr() && sport == sv.Port():
			at = dstAt
		default:
			continue
		}
		break
	}
	if at < 0 {
		return pkt
	}
	out := append(s.buf[:0], pkt...)
	old := binary.BigEndian.Uint16(out[at:])
	word := old + uint16(s.loop)
	binary.BigEndian.PutUint16(out[at:], word)
	// The address is in the TCP pseudo-header, and in IPv4's header.
	fixChecksum(out[l4+16:], old, word)
	if v4 {
		fixChecksum(out[10:], old, word)
	}
	s.buf = out
	return out
}

// fixChecksum updates the Internet checksum at b[0:2] for a 16-bit word of
// the covered data changing from old to word (RFC 1624: HC' = ~(~HC + ~m +
// m')).
func fixChecksum(b []byte, old, word uint16) {
	sum := uint32(^binary.BigEndian.Uint16(b)) + uint32(^old) + uint32(word)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b, ^uint16(sum))
}
