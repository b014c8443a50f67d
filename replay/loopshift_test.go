package replay

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpPacket builds an IP/TCP packet with correct checksums.
func tcpPacket(t *testing.T, src, dst netip.AddrPort, payload string) []byte {
	t.Helper()
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: 1000, ACK: true, PSH: true, Ack: 7, Window: 512}
	var ip gopacket.NetworkLayer
	var l gopacket.SerializableLayer
	if src.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		ip, l = v4, v4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		ip, l = v6, v6
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoopShift(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.20:80")
	server6 := netip.MustParseAddrPort("[fd00::20]:80")
	client := netip.MustParseAddrPort("10.0.0.10:40000")
	client6 := netip.MustParseAddrPort("[fd00::10]:65000")
	other := netip.MustParseAddrPort("10.0.0.30:443")
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		loop     int
		want     netip.AddrPort // the client as it should come out
		wantSrc  bool           // the client is the source (else the destination)
	}{
		{"first loop untouched", client, server, 0, client, true},
		{"request moves its source address", client, server, 1, netip.MustParseAddrPort("10.1.0.10:40000"), true},
		{"response moves its destination address", server, client, 2, netip.MustParseAddrPort("10.2.0.10:40000"), false},
		{"IPv6", client6, server6, 3, netip.MustParseAddrPort("[fd03::10]:65000"), true},
		{"address wraps", netip.MustParseAddrPort("255.255.1.2:999"), server, 2, netip.MustParseAddrPort("0.1.1.2:999"), true},
		{"other service untouched", client, other, 3, client, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewLoopShift([]netip.AddrPort{server, server6})
			s.SetLoop(tc.loop)
			var got []byte
			s.Wrap(func(p []byte, _ time.Time) { got = append([]byte(nil), p...) })(tcpPacket(t, tc.src, tc.dst, "GET / HTTP/1.1\r\n\r\n"), time.Time{})
			src, dst := tc.src, tc.dst
			if tc.wantSrc {
				src = tc.want
			} else {
				dst = tc.want
			}
			// The expected packet, checksums computed from scratch.
			want := tcpPacket(t, src, dst, "GET / HTTP/1.1\r\n\r\n")
			if string(got) != string(want) {
				t.Errorf("got  % x\nwant % x", got, want)
			}
		})
	}
}

func TestLoopShiftLeavesOthers(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.20:80")
	client := netip.MustParseAddrPort("10.0.0.10:40000")
	req := tcpPacket(t, client, server, "x")
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"UDP", mutate(req, func(b []byte) { b[9] = 17 })},
		{"later fragment", mutate(req, func(b []byte) { b[6], b[7] = 0, 8 })},
		{"no room for the TCP checksum", mutate(req[:36], func(b []byte) { b[2], b[3] = 0, 36 })},
		{"bad IP header", mutate(req, func(b []byte) { b[0] = 0x44 })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewLoopShift([]netip.AddrPort{server})
			s.SetLoop(1)
			if got := s.shift(tc.pkt); &got[0] != &tc.pkt[0] || len(got) != len(tc.pkt) {
				t.Errorf("packet rewritten: % x", got)
			}
		})
	}
}

func mutate(b []byte, f func([]byte)) []byte {
	b = append([]byte(nil), b...)
	f(b)
	return b
}
