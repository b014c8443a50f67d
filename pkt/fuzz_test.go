package pkt

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzParse: Parse never panics, and what it accepts is described by
// offsets and slices inside the packet, consistent with each other.
func FuzzParse(f *testing.F) {
	f.Add(build(f, Segment{Src: cli4, Dst: srv4, Flags: header.TCPFlagSyn, Options: mss}))
	f.Add(build(f, Segment{Src: cli6, Dst: srv6, Flags: header.TCPFlagAck, Payload: []byte("x")}))
	f.Add([]byte{0x4f})
	f.Add([]byte{0x60, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var v View
		err := Parse(b, &v)
		var ip IP
		ipErr := ParseIP(b, &ip)
		if ipErr != nil && err != ipErr || ipErr == nil && err != nil && err != ErrNotTCP && err != ErrFragment && err != ErrShortTCP && err != ErrDataOffset {
			t.Fatalf("ParseIP %v but Parse %v", ipErr, err)
		}
		if ipErr == nil {
			if ip.L4 > ip.End || ip.End > len(b) {
				t.Fatalf("L4 %d End %d of %d bytes", ip.L4, ip.End, len(b))
			}
			Ports(b, &ip)
		}
		if err != nil {
			return
		}
		if v.OptionsOffset() > v.PayloadOffset() || v.PayloadOffset() > v.End ||
			len(v.Options) != v.DataOffset-header.TCPMinimumSize || len(v.Payload) != v.End-v.PayloadOffset() {
			t.Fatalf("inconsistent view %+v of %d bytes", v, len(b))
		}
		// A rewrite of what parsed keeps the packet parseable with the
		// same segment.
		if err := RewriteSrcPort(b, &v.IP, v.SrcPort+1); err == nil {
			var w View
			if err := Parse(b, &w); err != nil || w.SrcPort != v.SrcPort+1 || w.Seq != v.Seq {
				t.Fatalf("after RewriteSrcPort: %v %+v", err, w)
			}
		}
	})
}
