package absorb

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"unsafe"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	tgt4  = netip.MustParseAddrPort("172.31.0.2:80")
	cli4  = netip.MustParseAddrPort("10.88.0.5:40000")
	tgt6  = netip.MustParseAddrPort("[fd7a::2]:443")
	cli6  = netip.MustParseAddrPort("[fd88::5]:50000")
	synAk = header.TCPFlagSyn | header.TCPFlagAck
)

func mutate(p []byte, f func([]byte)) []byte { f(p); return p }

func TestExtract(t *testing.T) {
	payload := []byte("HTTP/1.1 200 OK\r\n")
	tests := []struct {
		name    string
		pkt     []byte
		cap     int
		want    wire.Record // compared when wantErr is nil
		wantErr error       // matched with errors.Is
	}{
		{
			name: "v4 syn-ack options",
			pkt:  tcpPacket(tcpSpec{src: tgt4, dst: cli4, seq: 1000, ack: 2001, flags: synAk, window: 65160, opts: synAckOpts}),
			want: wire.Record{
				Tuple: wire.Tuple{Client: cli4, Target: tgt4}, Seq: 1000, Ack: 2001, Window: 65160,
				Flags: wire.FlagSYN | wire.FlagACK,
				Opts: wire.Options{Has: wire.OptMSS | wire.OptWScale | wire.OptSACKPermitted | wire.OptTimestamp,
					MSS: 1460, WScale: 7, TSVal: 42, TSEcr: 7},
			},
		},
		{
			name: "v6 data with timestamps, payload capped",
			pkt: tcpPacket(tcpSpec{src: tgt6, dst: cli6, seq: 7, ack: 9, flags: header.TCPFlagAck | header.TCPFlagPsh, window: 500,
				opts: []byte{1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0}, payload: payload}),
			cap: 4,
			want: wire.Record{
				Tuple: wire.Tuple{Client: cli6, Target: tgt6}, Seq: 7, Ack: 9, Window: 500,
				Flags: wire.FlagACK | wire.FlagPSH, PayloadLen: uint16(len(payload)),
				Opts:    wire.Options{Has: wire.OptTimestamp, TSVal: 256, TSEcr: 512},
				Payload: payload[:4],
			},
		},
		{
			name: "v4 payload under cap",
			pkt:  tcpPacket(tcpSpec{src: tgt4, dst: cli4, seq: 1, flags: header.TCPFlagAck | header.TCPFlagFin, payload: payload}),
			cap:  1024,
			want: wire.Record{Tuple: wire.Tuple{Client: cli4, Target: tgt4}, Seq: 1, Flags: wire.FlagACK | wire.FlagFIN,
				PayloadLen: uint16(len(payload)), Payload: payload},
		},
		{
			name: "v4 rst, trailing bytes ignored",
			pkt:  append(tcpPacket(tcpSpec{src: tgt4, dst: cli4, seq: 5, flags: header.TCPFlagRst}), 0xde, 0xad),
			cap:  64,
			want: wire.Record{Tuple: wire.Tuple{Client: cli4, Target: tgt4}, Seq: 5, Flags: wire.FlagRST},
		},
		{
			name: "v4 with IP options",
			pkt: func() []byte {
				p := tcpPacket(tcpSpec{src: tgt4, dst: cli4, seq: 3, flags: header.TCPFlagAck})
				q := append(append(append([]byte{}, p[:20]...), 1, 1, 1, 0), p[20:]...) // 4 bytes of NOP/EOL
				q[0] = 0x46
				header.IPv4(q).SetTotalLength(uint16(len(q)))
				return q
			}(),
			want: wire.Record{Tuple: wire.Tuple{Client: cli4, Target: tgt4}, Seq: 3, Flags: wire.FlagACK},
		},
		{
			name: "bad options keep what came before",
			pkt:  tcpPacket(tcpSpec{src: tgt4, dst: cli4, flags: header.TCPFlagSyn, opts: []byte{2, 4, 0x02, 0x18, 3, 0, 7, 1}}),
			want: wire.Record{Tuple: wire.Tuple{Client: cli4, Target: tgt4}, Flags: wire.FlagSYN,
				Opts: wire.Options{Has: wire.OptMSS, MSS: 536}},
		},
		{name: "empty", pkt: nil, wantErr: ErrMalformed},
		{name: "version 5", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { p[0] = 0x55 }), wantErr: ErrMalformed},
		{name: "v4 short", pkt: tcpPacket(tcpSpec{src: tgt4, dst: cli4})[:19], wantErr: ErrMalformed},
		{name: "v4 IHL 4", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { p[0] = 0x44 }), wantErr: ErrMalformed},
		{name: "v4 IHL beyond packet", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { p[0] = 0x4f }), wantErr: ErrMalformed},
		{name: "v4 total length > buffer", pkt: tcpPacket(tcpSpec{src: tgt4, dst: cli4, payload: payload})[:50], wantErr: ErrMalformed},
		{name: "v4 total length < IHL", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { header.IPv4(p).SetTotalLength(10) }), wantErr: ErrMalformed},
		{name: "v4 TCP shorter than 20", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { header.IPv4(p).SetTotalLength(30) }), wantErr: ErrMalformed},
		{name: "v4 data offset 4", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { p[32] = 4 << 4 }), wantErr: ErrMalformed},
		{name: "v4 data offset beyond segment", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { p[32] = 6 << 4 }), wantErr: ErrMalformed},
		{name: "v4 total length 0", pkt: mutate(tcpPacket(tcpSpec{src: tgt4, dst: cli4}), func(p []byte) { header.IPv4(p).SetTotalLength(0) }), wantErr: ErrMalformed},
		{name: "v6 payload length 0", pkt: mutate(tcpPacket(tcpSpec{src: tgt6, dst: cli6}), func(p []byte) { header.IPv6(p).SetPayloadLength(0) }), wantErr: ErrMalformed},
		{name: "v6 short", pkt: tcpPacket(tcpSpec{src: tgt6, dst: cli6})[:39], wantErr: ErrMalformed},
		{name: "v6 payload length > buffer", pkt: tcpPacket(tcpSpec{src: tgt6, dst: cli6})[:50], wantErr: ErrMalformed},
		{name: "v6 data offset 15", pkt: mutate(tcpPacket(tcpSpec{src: tgt6, dst: cli6}), func(p []byte) { p[52] = 15 << 4 }), wantErr: ErrMalformed},
		{name: "v4 UDP goes to the stack", pkt: udpPacket(tgt4, cli4, []byte("x")), wantErr: ErrNotTCP},
		{name: "v6 ICMPv6 goes to the stack", pkt: echoRequest(tgt6.Addr(), cli6.Addr(), 1, 1, nil), wantErr: ErrNotTCP},
		{name: "v6 extension header goes to the stack", pkt: tcpPacket(tcpSpec{src: tgt6, dst: cli6, extHeader: true}), wantErr: ErrNotTCP},
		{name: "v4 first fragment goes to the stack", pkt: tcpPacket(tcpSpec{src: tgt4, dst: cli4, moreFrags: true}), wantErr: ErrFragment},
		{name: "v4 later fragment goes to the stack", pkt: tcpPacket(tcpSpec{src: tgt4, dst: cli4, fragOffset: 8}), wantErr: ErrFragment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wire.Record{Time: 99, Payload: []byte("stale")}
			err := Extract(tt.pkt, &r, tt.cap)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Extract() = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Extract() = %v", err)
			}
			tt.want.Time = 99 // left to the caller
			if !reflect.DeepEqual(r, tt.want) {
				t.Fatalf("Extract():\n got %+v\nwant %+v", r, tt.want)
			}
			if len(r.Payload) > 0 && !aliases(r.Payload, tt.pkt) {
				t.Fatal("Payload does not alias the packet")
			}
		})
	}
}

func aliases(sub, buf []byte) bool {
	if len(sub) == 0 {
		return true
	}
	s, b := uintptr(unsafe.Pointer(&sub[0])), uintptr(unsafe.Pointer(&buf[0]))
	return s >= b && s+uintptr(len(sub)) <= b+uintptr(len(buf))
}

func TestExtractNoAllocs(t *testing.T) {
	pkts := [][]byte{
		tcpPacket(tcpSpec{src: tgt4, dst: cli4, flags: synAk, opts: synAckOpts}),
		tcpPacket(tcpSpec{src: tgt6, dst: cli6, flags: header.TCPFlagAck, payload: []byte("abc")}),
		udpPacket(tgt4, cli4, nil),
		{0x45},
	}
	var r wire.Record
	for _, p := range pkts {
		if n := testing.AllocsPerRun(100, func() { Extract(p, &r, 16) }); n != 0 {
			t.Errorf("Extract allocates %.1f times per packet", n)
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(tcpPacket(tcpSpec{src: tgt4, dst: cli4, flags: synAk, opts: synAckOpts}), 0)
	f.Add(tcpPacket(tcpSpec{src: tgt6, dst: cli6, flags: header.TCPFlagAck, payload: []byte("hello")}), 3)
	f.Add(tcpPacket(tcpSpec{src: tgt6, dst: cli6, extHeader: true}), 0)
	f.Add(tcpPacket(tcpSpec{src: tgt4, dst: cli4, moreFrags: true}), 0)
	f.Add(udpPacket(tgt4, cli4, []byte("x")), 0)
	f.Add([]byte{0x4f, 0, 0, 0}, 1)
	f.Fuzz(func(t *testing.T, pkt []byte, payloadCap int) {
		payloadCap &= 0xffff
		var r wire.Record
		err := Extract(pkt, &r, payloadCap)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && err != ErrNotTCP && err != ErrFragment {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if !r.Tuple.Valid() {
			t.Fatalf("invalid tuple %v", r.Tuple)
		}
		if len(r.Payload) > int(r.PayloadLen) || len(r.Payload) > payloadCap {
			t.Fatalf("payload %d bytes, segment %d, cap %d", len(r.Payload), r.PayloadLen, payloadCap)
		}
		if len(r.Payload) != min(int(r.PayloadLen), payloadCap) {
			t.Fatalf("payload %d bytes, want min(%d, %d)", len(r.Payload), r.PayloadLen, payloadCap)
		}
		if !aliases(r.Payload, pkt) {
			t.Fatal("payload outside the packet")
		}
		const known = wire.OptMSS | wire.OptWScale | wire.OptSACKPermitted | wire.OptTimestamp
		if r.Opts.Has&^known != 0 {
			t.Fatalf("unknown option bits %#x", r.Opts.Has)
		}
		// The lengths must add up: IP header + TCP header + payload = IP length.
		var ipLen, ihl int
		if pkt[0]>>4 == 4 {
			ipLen, ihl = int(header.IPv4(pkt).TotalLength()), int(header.IPv4(pkt).HeaderLength())
		} else {
			ipLen, ihl = header.IPv6MinimumSize+int(header.IPv6(pkt).PayloadLength()), header.IPv6MinimumSize
		}
		if off := int(header.TCP(pkt[ihl:]).DataOffset()); ihl+off+int(r.PayloadLen) != ipLen {
			t.Fatalf("ihl %d + tcp %d + payload %d != length %d", ihl, off, r.PayloadLen, ipLen)
		}
		if r.Tuple.Client.Port() != header.TCP(pkt[ihl:]).DestinationPort() || r.Seq != header.TCP(pkt[ihl:]).SequenceNumber() {
			t.Fatal("fields do not match the header")
		}
	})
}

func BenchmarkExtract(b *testing.B) {
	pkt := tcpPacket(tcpSpec{src: tgt4, dst: cli4, seq: 1, ack: 2, flags: header.TCPFlagAck, opts: []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}})
	var r wire.Record
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := Extract(pkt, &r, 0); err != nil {
			b.Fatal(err)
		}
	}
}
