package copier

import (
	"encoding/binary"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func TestParseCaptured(t *testing.T) {
	v4 := func(mod func([]byte)) []byte {
		b := buildCaptured(capSpec{src: client4, dst: online4, seq: 7, ack: 9, flags: header.TCPFlagAck, opts: []byte{1, 1, 1, 1}, payload: []byte("hello")})
		if mod != nil {
			mod(b)
		}
		return b
	}
	v6 := buildCaptured(capSpec{src: client6, dst: online6, seq: 7, ack: 9, flags: header.TCPFlagSyn, payload: []byte("hi")})
	cases := []struct {
		name    string
		pkt     []byte
		ok      bool
		payLen  int
		optLen  int
		trailer int
	}{
		{"ipv4", v4(nil), true, 5, 4, 0},
		{"ipv6", v6, true, 2, 0, 0},
		{"ipv4 with ethernet padding", append(v4(nil), 0, 0, 0, 0), true, 5, 4, 4},
		{"ipv4 total length 0 (GSO)", v4(func(b []byte) { binary.BigEndian.PutUint16(b[2:], 0) }), true, 5, 4, 0},
		{"ipv6 payload length 0 (BIG TCP)", func() []byte {
			b := append([]byte(nil), v6...)
			binary.BigEndian.PutUint16(b[4:], 0)
			return b
		}(), true, 2, 0, 0},
		{"truncated", v4(nil)[:30], false, 0, 0, 0},
		{"fragment", v4(func(b []byte) { b[6] |= 0x20 }), false, 0, 0, 0},
		{"udp", v4(func(b []byte) { b[9] = 17 }), false, 0, 0, 0},
		{"bad data offset", v4(func(b []byte) { b[32] = 0xf0 }), false, 0, 0, 0},
		{"not ip", []byte{0x11, 2, 3}, false, 0, 0, 0},
		{"empty", nil, false, 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p capPkt
			ok := parseCaptured(tc.pkt, &p)
			if ok != tc.ok {
				t.Fatalf("ok = %v", ok)
			}
			if !ok {
				return
			}
			if p.payLen != tc.payLen || p.optLen != tc.optLen || p.seq != 7 || p.ack != 9 || p.payOff+p.payLen != len(tc.pkt)-tc.trailer {
				t.Fatalf("parsed %+v", p)
			}
			if p.orig.Client.Port() != 40000 || p.orig.Target.Port() != 80 {
				t.Fatalf("tuple %v", p.orig)
			}
		})
	}
}
