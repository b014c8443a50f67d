package pkt

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var sink View

func benchParse(b *testing.B, p []byte) {
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(p, &sink); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse4(b *testing.B) {
	benchParse(b, build(b, Segment{Src: cli4, Dst: srv4, Flags: header.TCPFlagAck, Payload: make([]byte, 1400)}))
}

func BenchmarkParse6(b *testing.B) {
	benchParse(b, build(b, Segment{Src: cli6, Dst: srv6, Flags: header.TCPFlagAck, Payload: make([]byte, 1400)}))
}

func BenchmarkBuild(b *testing.B) {
	for name, s := range map[string]Segment{
		"v4": {Src: cli4, Dst: srv4, Flags: header.TCPFlagAck, Payload: make([]byte, 1400)},
		"v6": {Src: cli6, Dst: srv6, Flags: header.TCPFlagAck, Payload: make([]byte, 1400)},
	} {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, s.Size())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(buf, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRewrite(b *testing.B) {
	p := build(b, Segment{Src: cli6, Dst: srv6, Flags: header.TCPFlagAck, Payload: make([]byte, 100)})
	var ip IP
	if err := ParseIP(p, &ip); err != nil {
		b.Fatal(err)
	}
	a := [2]netip.Addr{cli6.Addr(), srv6.Addr()}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i ^= 1
		if err := RewriteSrc(p, &ip, a[i]); err != nil {
			b.Fatal(err)
		}
	}
}
