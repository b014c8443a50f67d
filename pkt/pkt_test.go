package pkt

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	cli4 = netip.MustParseAddrPort("10.0.0.10:40000")
	srv4 = netip.MustParseAddrPort("10.0.0.20:80")
	cli6 = netip.MustParseAddrPort("[fd00::10]:40000")
	srv6 = netip.MustParseAddrPort("[fd00::20]:80")
	mss  = []byte{header.TCPOptionMSS, 4, 0x05, 0xb4}
)

// build is Build into a fresh buffer, for tests.
func build(t testing.TB, s Segment) []byte {
	t.Helper()
	b := make([]byte, s.Size())
	n, err := Build(b, &s)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if n != len(b) {
		t.Fatalf("Build wrote %d bytes, Size said %d", n, len(b))
	}
	return b
}

func mutate(b []byte, f func([]byte)) []byte {
	b = bytes.Clone(b)
	f(b)
	return b
}

// checksumsValid fails t unless b parses with valid checksums.
func checksumsValid(t *testing.T, b []byte) {
	t.Helper()
	var v View
	if err := Parse(b, &v); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !v.ChecksumsValid(b) {
		t.Errorf("checksums wrong")
	}
}

func TestChecksumsValid(t *testing.T) {
	good4 := build(t, Segment{Src: cli4, Dst: srv4, Payload: []byte("abc")})
	good6 := build(t, Segment{Src: cli6, Dst: srv6, Payload: []byte("abc")})
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"v4", good4, true},
		{"v6", good6, true},
		{"v4 header checksum", mutate(good4, func(b []byte) { b[10]++ }), false},
		{"v4 TTL changed", mutate(good4, func(b []byte) { b[8]-- }), false},
		{"v4 payload changed", mutate(good4, func(b []byte) { b[len(b)-1]++ }), false},
		{"v6 address changed", mutate(good6, func(b []byte) { b[39]++ }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v View
			if err := Parse(tc.pkt, &v); err != nil {
				t.Fatal(err)
			}
			if got := v.ChecksumsValid(tc.pkt); got != tc.want {
				t.Errorf("ChecksumsValid = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	data := Segment{Src: cli4, Dst: srv4, Seq: 1000, Ack: 7, Flags: header.TCPFlagAck | header.TCPFlagPsh, Window: 512, Payload: []byte("hello")}
	syn6 := Segment{Src: cli6, Dst: srv6, Seq: 1 << 31, Flags: header.TCPFlagSyn, Window: 65535, Options: mss}
	tests := []struct {
		name    string
		pkt     []byte
		want    Segment // the segment Parse must find (when wantErr is nil)
		wantErr error
		sized   bool
	}{
		{name: "v4 data", pkt: build(t, data), want: data},
		{name: "v6 SYN with MSS", pkt: build(t, syn6), want: syn6},
		{name: "v4 Ethernet padding ignored", pkt: append(build(t, data), 0, 0, 0), want: data},
		{name: "v4 IP options", pkt: ipv4Options(build(t, data)), want: data},
		{name: "v4 total length 0 takes the buffer", pkt: mutate(build(t, data), func(b []byte) { header.IPv4(b).SetTotalLength(0) }), want: data, sized: true},
		{name: "v6 payload length 0 takes the buffer", pkt: mutate(build(t, syn6), func(b []byte) { header.IPv6(b).SetPayloadLength(0) }), want: syn6, sized: true},

		{name: "empty", pkt: nil, wantErr: ErrEmpty},
		{name: "version 5", pkt: mutate(build(t, data), func(b []byte) { b[0] = 0x55 }), wantErr: ErrVersion},
		{name: "v4 short", pkt: build(t, data)[:19], wantErr: ErrShortIPv4},
		{name: "v4 IHL 4", pkt: mutate(build(t, data), func(b []byte) { b[0] = 0x44 }), wantErr: ErrIHL},
		{name: "v4 IHL beyond packet", pkt: mutate(build(t, data)[:20], func(b []byte) { b[0] = 0x4f }), wantErr: ErrIHL},
		{name: "v4 total length < IHL", pkt: mutate(build(t, data), func(b []byte) { header.IPv4(b).SetTotalLength(10) }), wantErr: ErrTotalLength},
		{name: "v4 total length > buffer", pkt: build(t, data)[:44], wantErr: ErrLongIPv4},
		{name: "v4 TCP shorter than 20", pkt: mutate(build(t, data), func(b []byte) { header.IPv4(b).SetTotalLength(30) }), wantErr: ErrShortTCP},
		{name: "v4 data offset 4", pkt: mutate(build(t, data), func(b []byte) { b[32] = 4 << 4 }), wantErr: ErrDataOffset},
		{name: "v4 data offset beyond segment", pkt: mutate(build(t, Segment{Src: cli4, Dst: srv4}), func(b []byte) { b[32] = 6 << 4 }), wantErr: ErrDataOffset},
		{name: "v6 short", pkt: build(t, syn6)[:39], wantErr: ErrShortIPv6},
		{name: "v6 payload length > buffer", pkt: build(t, syn6)[:50], wantErr: ErrLongIPv6},
		{name: "v6 data offset 15", pkt: mutate(build(t, syn6), func(b []byte) { b[52] = 15 << 4 }), wantErr: ErrDataOffset},
		{name: "v4 UDP", pkt: mutate(build(t, data), func(b []byte) { b[9] = 17 }), wantErr: ErrNotTCP},
		{name: "v6 extension header", pkt: mutate(build(t, syn6), func(b []byte) { b[6] = 0 }), wantErr: ErrNotTCP},
		{name: "v4 first fragment", pkt: mutate(build(t, data), func(b []byte) { header.IPv4(b).SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0) }), wantErr: ErrFragment},
		{name: "v4 later fragment", pkt: mutate(build(t, data), func(b []byte) { header.IPv4(b).SetFlagsFragmentOffset(0, 8) }), wantErr: ErrFragment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v View
			err := Parse(tc.pkt, &v)
			if err != tc.wantErr {
				t.Fatalf("Parse = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if errors.Is(err, ErrMalformed) == (err == ErrNotTCP || err == ErrFragment) {
					t.Errorf("%v: ErrMalformed must wrap exactly the header errors", err)
				}
				return
			}
			w := tc.want
			if v.SrcAddrPort() != w.Src || v.DstAddrPort() != w.Dst || v.Seq != w.Seq || v.Ack != w.Ack ||
				v.Flags != w.Flags || v.Window != w.Window || !bytes.Equal(v.Options, w.Options) ||
				!bytes.Equal(v.Payload, w.Payload) {
				t.Errorf("got %+v\nwant %+v", v, w)
			}
			if v.V6 != !w.Src.Addr().Is4() || v.SizedByBuffer != tc.sized {
				t.Errorf("V6 %v SizedByBuffer %v, want %v %v", v.V6, v.SizedByBuffer, !w.Src.Addr().Is4(), tc.sized)
			}
			if !bytes.Equal(tc.pkt[v.PayloadOffset():v.End], w.Payload) || !bytes.Equal(tc.pkt[v.OptionsOffset():v.PayloadOffset()], w.Options) {
				t.Errorf("offsets %d/%d do not index the options and payload", v.OptionsOffset(), v.PayloadOffset())
			}
		})
	}
}

// ipv4Options inserts 4 bytes of NOP options into an IPv4 packet.
func ipv4Options(b []byte) []byte {
	out := append(append(bytes.Clone(b[:20]), 1, 1, 1, 1), b[20:]...)
	ip := header.IPv4(out)
	ip.SetHeaderLength(24)
	ip.SetTotalLength(uint16(len(out)))
	return out
}

func TestParseTCP(t *testing.T) {
	b := build(t, Segment{Src: cli4, Dst: srv4, Seq: 3, Flags: header.TCPFlagSyn, Options: mss, Payload: []byte("x")})
	tests := []struct {
		name    string
		seg     []byte
		wantErr error
	}{
		{"whole segment", b[20:], nil},
		{"19 bytes", b[20:39], ErrShortTCP},
		{"options cut", b[20:43], ErrDataOffset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := View{IP: IP{Src: cli6.Addr()}}
			err := ParseTCP(tc.seg, &v)
			if err != tc.wantErr {
				t.Fatalf("ParseTCP = %v, want %v", err, tc.wantErr)
			}
			if v.Src != cli6.Addr() {
				t.Errorf("ParseTCP changed the IP fields")
			}
			if err == nil && (v.SrcPort != cli4.Port() || v.Seq != 3 || !bytes.Equal(v.Options, mss) || string(v.Payload) != "x") {
				t.Errorf("got %+v", v)
			}
		})
	}
}

func TestPorts(t *testing.T) {
	data := build(t, Segment{Src: cli4, Dst: srv4, Flags: header.TCPFlagAck})
	tests := []struct {
		name   string
		pkt    []byte
		wantOK bool
	}{
		{"whole segment", data, true},
		{"first fragment", mutate(data, func(b []byte) { header.IPv4(b).SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0) }), true},
		{"later fragment", mutate(data, func(b []byte) { header.IPv4(b).SetFlagsFragmentOffset(0, 8) }), false},
		{"UDP", mutate(data, func(b []byte) { b[9] = 17 }), false},
		{"3 bytes of TCP", mutate(data[:23], func(b []byte) { header.IPv4(b).SetTotalLength(23) }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ip IP
			if err := ParseIP(tc.pkt, &ip); err != nil {
				t.Fatal(err)
			}
			s, d, ok := Ports(tc.pkt, &ip)
			if ok != tc.wantOK || ok && (s != cli4.Port() || d != srv4.Port()) {
				t.Errorf("Ports = %d, %d, %v; want %v", s, d, ok, tc.wantOK)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name    string
		seg     Segment
		buf     int // buffer size, 0 = exactly Size
		wantErr error
	}{
		{name: "v4 SYN", seg: Segment{Src: cli4, Dst: srv4, Seq: 5, Flags: header.TCPFlagSyn, Window: 64240, Options: mss, ID: 9}},
		{name: "v6 data", seg: Segment{Src: cli6, Dst: srv6, Seq: 5, Ack: 9, Flags: header.TCPFlagAck, Window: 1, Payload: []byte("odd length")}},
		{name: "TTL", seg: Segment{Src: cli4, Dst: srv4, TTL: 3}},
		{name: "mixed families", seg: Segment{Src: cli4, Dst: srv6}, wantErr: ErrFamily},
		{name: "no address", seg: Segment{Dst: srv6}, wantErr: ErrFamily},
		{name: "options not padded", seg: Segment{Src: cli4, Dst: srv4, Options: mss[:3]}, wantErr: ErrOptions},
		{name: "options too long", seg: Segment{Src: cli4, Dst: srv4, Options: make([]byte, 44)}, wantErr: ErrOptions},
		{name: "v4 too long", seg: Segment{Src: cli4, Dst: srv4, Payload: make([]byte, 65535-39)}, buf: 70000, wantErr: ErrTooLong},
		{name: "buffer short", seg: Segment{Src: cli4, Dst: srv4}, buf: 39, wantErr: ErrBuffer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.buf
			if size == 0 {
				size = tc.seg.Size()
			}
			b := make([]byte, size)
			n, err := Build(b, &tc.seg)
			if err != tc.wantErr {
				t.Fatalf("Build = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			b = b[:n]
			checksumsValid(t, b)
			var v View
			if err := Parse(b, &v); err != nil {
				t.Fatal(err)
			}
			ttl := b[8]
			if v.V6 {
				ttl = b[7]
			}
			want := tc.seg.TTL
			if want == 0 {
				want = 64
			}
			if ttl != want {
				t.Errorf("TTL %d, want %d", ttl, want)
			}
			if !v.V6 && (header.IPv4(b).ID() != tc.seg.ID || header.IPv4(b).Flags() != header.IPv4FlagDontFragment) {
				t.Errorf("IPv4 ID %d flags %d", header.IPv4(b).ID(), header.IPv4(b).Flags())
			}
			if v.Seq != tc.seg.Seq || v.Ack != tc.seg.Ack || v.Flags != tc.seg.Flags || v.Window != tc.seg.Window ||
				!bytes.Equal(v.Options, tc.seg.Options) || !bytes.Equal(v.Payload, tc.seg.Payload) {
				t.Errorf("parsed back %+v from %+v", v, tc.seg)
			}
		})
	}
}

// TestBuildFlow: a segment with a Flow is the same packet as one with
// Src and Dst (which the Flow overrides); bad endpoints are refused.
func TestBuildFlow(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		wantErr  error
	}{
		{name: "v4", src: cli4, dst: srv4},
		{name: "v6", src: cli6, dst: srv6},
		{name: "mixed families", src: cli6, dst: srv4, wantErr: ErrFamily},
		{name: "no address", dst: srv4, wantErr: ErrFamily},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFlow(tc.src, tc.dst)
			if err != tc.wantErr {
				t.Fatalf("NewFlow = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if f.V6() != tc.src.Addr().Is6() {
				t.Errorf("V6 = %v", f.V6())
			}
			seg := Segment{Src: tc.src, Dst: tc.dst, Seq: 7, Ack: 8, Flags: header.TCPFlagAck, Window: 9, Options: mss, Payload: []byte("abc"), ID: 4}
			want := build(t, seg)
			seg.Src, seg.Dst, seg.Flow = srv4, cli6, &f // ignored: the flow's endpoints win
			if got := build(t, seg); !bytes.Equal(got, want) {
				t.Errorf("with Flow\n%x\nwant\n%x", got, want)
			}
			// The cached pseudo-header sum plus each length gives the
			// checksum gVisor computes from scratch.
			for _, n := range []int{0, 1, 2, 1000, 40000} {
				seg.Payload = bytes.Repeat([]byte{0xa5}, n)
				checksumsValid(t, build(t, seg))
			}
		})
	}
	if _, err := Build(make([]byte, 100), &Segment{Src: cli4, Dst: srv4, Flow: &Flow{}}); err != ErrFamily {
		t.Errorf("zero Flow: Build = %v, want %v", err, ErrFamily)
	}
}

func TestRewrite(t *testing.T) {
	seg4 := Segment{Src: cli4, Dst: srv4, Seq: 1000, Ack: 7, Flags: header.TCPFlagAck | header.TCPFlagPsh, Window: 512, Payload: []byte("GET / HTTP/1.1\r\n\r\n")}
	seg6 := seg4
	seg6.Src, seg6.Dst = cli6, srv6
	other4 := netip.MustParseAddr("192.168.255.1")
	other6 := netip.MustParseAddr("fd03::ffff:10")
	tests := []struct {
		name    string
		seg     Segment
		rewrite func(b []byte, ip *IP) error
		want    func(s *Segment) // the segment that Build must give the same bytes for
		wantErr error
	}{
		{"v4 source", seg4, func(b []byte, ip *IP) error { return RewriteSrc(b, ip, other4) }, func(s *Segment) { s.Src = netip.AddrPortFrom(other4, s.Src.Port()) }, nil},
		{"v4 destination", seg4, func(b []byte, ip *IP) error { return RewriteDst(b, ip, other4) }, func(s *Segment) { s.Dst = netip.AddrPortFrom(other4, s.Dst.Port()) }, nil},
		{"v6 source", seg6, func(b []byte, ip *IP) error { return RewriteSrc(b, ip, other6) }, func(s *Segment) { s.Src = netip.AddrPortFrom(other6, s.Src.Port()) }, nil},
		{"v6 destination", seg6, func(b []byte, ip *IP) error { return RewriteDst(b, ip, other6) }, func(s *Segment) { s.Dst = netip.AddrPortFrom(other6, s.Dst.Port()) }, nil},
		{"source port", seg4, func(b []byte, ip *IP) error { return RewriteSrcPort(b, ip, 1) }, func(s *Segment) { s.Src = netip.AddrPortFrom(s.Src.Addr(), 1) }, nil},
		{"destination port", seg6, func(b []byte, ip *IP) error { return RewriteDstPort(b, ip, 65535) }, func(s *Segment) { s.Dst = netip.AddrPortFrom(s.Dst.Addr(), 65535) }, nil},
		{"wrong family", seg4, func(b []byte, ip *IP) error { return RewriteSrc(b, ip, other6) }, nil, ErrFamily},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, tc.seg)
			var ip IP
			if err := ParseIP(b, &ip); err != nil {
				t.Fatal(err)
			}
			if err := tc.rewrite(b, &ip); err != tc.wantErr {
				t.Fatalf("rewrite = %v, want %v", err, tc.wantErr)
			}
			if tc.want == nil {
				return
			}
			w := tc.seg
			tc.want(&w)
			if want := build(t, w); !bytes.Equal(b, want) {
				t.Errorf("got  % x\nwant % x", b, want)
			}
			if ip.Src != w.Src.Addr() || ip.Dst != w.Dst.Addr() {
				t.Errorf("ip now %v -> %v, want %v -> %v", ip.Src, ip.Dst, w.Src, w.Dst)
			}
		})
	}
}

func TestRewriteRefuses(t *testing.T) {
	data := build(t, Segment{Src: cli4, Dst: srv4})
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"UDP", mutate(data, func(b []byte) { b[9] = 17 }), ErrNotTCP},
		{"later fragment", mutate(data, func(b []byte) { header.IPv4(b).SetFlagsFragmentOffset(0, 8) }), ErrFragment},
		{"no room for the checksum", mutate(data[:37], func(b []byte) { header.IPv4(b).SetTotalLength(37) }), ErrShortTCP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ip IP
			if err := ParseIP(tc.pkt, &ip); err != nil {
				t.Fatal(err)
			}
			before := bytes.Clone(tc.pkt)
			if err := RewriteDstPort(tc.pkt, &ip, 1); err != tc.want {
				t.Errorf("RewriteDstPort = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(before, tc.pkt) {
				t.Errorf("a refused rewrite changed the packet")
			}
		})
	}
}

func TestPatchChecksum(t *testing.T) {
	// Data whose checksum is known, then one word changed: the patched
	// checksum must equal the one computed from scratch.
	data := []byte{0x45, 0x00, 0x12, 0x34, 0xab, 0xcd, 0x00, 0x01, 0xff, 0xff}
	for _, word := range []uint16{0, 1, 0x1234, 0xfffe, 0xffff} {
		xsum := make([]byte, 2)
		checksum.Put(xsum, ^checksum.Checksum(data, 0))
		changed := bytes.Clone(data)
		old := uint16(changed[4])<<8 | uint16(changed[5])
		changed[4], changed[5] = byte(word>>8), byte(word)
		PatchChecksum(xsum, old, word)
		if got, want := uint16(xsum[0])<<8|uint16(xsum[1]), ^checksum.Checksum(changed, 0); got != want && !(got == 0 && want == 0xffff) {
			t.Errorf("word %#x: patched %#04x, from scratch %#04x", word, got, want)
		}
	}
}
