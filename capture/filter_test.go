package capture

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/replaygw/replaygw/pkt"
	"golang.org/x/net/bpf"
)

func vmFor(t testing.TB, f Filter, lt layers.LinkType) *bpf.VM {
	t.Helper()
	raw, err := BuildFilter(f, lt)
	if err != nil {
		t.Fatalf("BuildFilter: %v", err)
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("filter does not disassemble: %v", ins)
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return vm
}

func TestBuildFilter(t *testing.T) {
	ap := netip.MustParseAddrPort
	client4, client6 := ap("192.0.2.7:40000"), ap("[2001:db8::7]:40000")
	f := Filter{Dst: []netip.AddrPort{
		ap("10.0.0.1:80"), ap("[fd00::1]:443"), ap("10.0.0.2:0"), ap("[::ffff:10.0.0.3]:8080"),
	}}
	udp := tcpPacket(client4, ap("10.0.0.1:80"), "x", 0)
	udp[9] = 17
	frag := tcpPacket(client4, ap("10.0.0.1:80"), "x", 0)
	frag[7] = 8 // fragment offset 64 bytes
	firstFrag := tcpPacket(client4, ap("10.0.0.1:80"), "x", 0)
	firstFrag[6] = 0x20 // MF, offset 0
	hop := tcpPacket(client6, ap("[fd00::1]:443"), "x", 0)
	hop[6] = 0 // hop-by-hop extension header first
	cases := []struct {
		name string
		lt   layers.LinkType
		pkt  []byte
		want bool
	}{
		{"v4 match", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.1:80"), "GET", 0), 0), true},
		{"v4 options match", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.1:80"), "GET", 8), 0), true},
		{"v4 wrong port", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.1:81"), "GET", 0), 0), false},
		{"v4 options wrong port", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.1:81"), "GET", 12), 0), false},
		{"v4 wrong addr", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.9:80"), "GET", 0), 0), false},
		{"v4 source is the service", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("10.0.0.1:80"), client4, "OK", 0), 0), false},
		{"v4 any port", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.2:9999"), "", 0), 0), true},
		{"v4 mapped route", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.3:8080"), "", 0), 0), true},
		{"v4 udp", layers.LinkTypeEthernet, ethernet(udp, 0), false},
		{"v4 later fragment", layers.LinkTypeEthernet, ethernet(frag, 0), false},
		{"v4 first fragment", layers.LinkTypeEthernet, ethernet(firstFrag, 0), true},
		{"v4 vlan match", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.1:80"), "GET", 0), 42), true},
		{"v4 vlan wrong port", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.1:82"), "GET", 0), 42), false},
		{"v6 match", layers.LinkTypeEthernet, ethernet(tcpPacket(client6, ap("[fd00::1]:443"), "hi", 0), 0), true},
		{"v6 vlan match", layers.LinkTypeEthernet, ethernet(tcpPacket(client6, ap("[fd00::1]:443"), "hi", 0), 7), true},
		{"v6 wrong port", layers.LinkTypeEthernet, ethernet(tcpPacket(client6, ap("[fd00::1]:444"), "hi", 0), 0), false},
		{"v6 last word differs", layers.LinkTypeEthernet, ethernet(tcpPacket(client6, ap("[fd00::2]:443"), "hi", 0), 0), false},
		{"v6 first word differs", layers.LinkTypeEthernet, ethernet(tcpPacket(client6, ap("[fd01::1]:443"), "hi", 0), 0), false},
		{"v6 extension header", layers.LinkTypeEthernet, ethernet(hop, 0), false},
		{"v6 to a v4 service port", layers.LinkTypeEthernet, ethernet(tcpPacket(client6, ap("[fd00::1]:80"), "", 0), 0), false},
		{"arp", layers.LinkTypeEthernet, arpFrame(), false},
		{"short frame", layers.LinkTypeEthernet, []byte{1, 2, 3}, false},
		{"raw v4 match", layers.LinkTypeRaw, tcpPacket(client4, ap("10.0.0.1:80"), "GET", 0), true},
		{"raw v4 wrong port", layers.LinkTypeRaw, tcpPacket(client4, ap("10.0.0.1:8080"), "GET", 0), false},
		{"raw v6 match", layers.LinkTypeRaw, tcpPacket(client6, ap("[fd00::1]:443"), "GET", 0), true},
		{"raw garbage", layers.LinkTypeRaw, []byte{0x10, 0, 0, 0}, false},
	}
	vms := map[layers.LinkType]*bpf.VM{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vm := vms[c.lt]
			if vm == nil {
				vm = vmFor(t, f, c.lt)
				vms[c.lt] = vm
			}
			n, err := vm.Run(c.pkt)
			if err != nil {
				t.Fatalf("vm: %v", err)
			}
			if got := n > 0; got != c.want {
				t.Fatalf("accepted=%v (%d bytes), want %v", got, n, c.want)
			}
			if c.want && n != Snaplen {
				t.Fatalf("snap length %d, want %d", n, Snaplen)
			}
		})
	}
}

// TestBuildFilterSrc checks the answers of Filter.Src services: their
// source address and port match, whatever the destination, beside the
// requests of Filter.Dst.
func TestBuildFilterSrc(t *testing.T) {
	ap := netip.MustParseAddrPort
	client4, client6 := ap("192.0.2.7:40000"), ap("[2001:db8::7]:40000")
	f := Filter{
		Dst: []netip.AddrPort{ap("10.0.0.1:80"), ap("[fd00::1]:443")},
		Src: []netip.AddrPort{ap("10.0.0.1:80"), ap("[fd00::1]:443"), ap("10.0.0.5:0")},
	}
	cases := []struct {
		name string
		lt   layers.LinkType
		pkt  []byte
		want bool
	}{
		{"v4 request", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.1:80"), "GET", 0), 0), true},
		{"v4 answer", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("10.0.0.1:80"), client4, "OK", 0), 0), true},
		{"v4 answer with options", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("10.0.0.1:80"), client4, "OK", 12), 0), true},
		{"v4 answer vlan", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("10.0.0.1:80"), client4, "OK", 0), 9), true},
		{"v4 answer wrong port", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("10.0.0.1:81"), client4, "OK", 0), 0), false},
		{"v4 answer wrong addr", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("10.0.0.2:80"), client4, "OK", 0), 0), false},
		{"v4 answer any port", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("10.0.0.5:7"), client4, "OK", 0), 0), true},
		{"v4 request to an answers-only service", layers.LinkTypeEthernet, ethernet(tcpPacket(client4, ap("10.0.0.5:7"), "GET", 0), 0), false},
		{"v6 answer", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("[fd00::1]:443"), client6, "OK", 0), 0), true},
		{"v6 answer wrong port", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("[fd00::1]:444"), client6, "OK", 0), 0), false},
		{"v6 answer wrong last word", layers.LinkTypeEthernet, ethernet(tcpPacket(ap("[fd00::2]:443"), client6, "OK", 0), 0), false},
		{"raw v4 answer", layers.LinkTypeRaw, tcpPacket(ap("10.0.0.1:80"), client4, "OK", 0), true},
		{"raw v6 answer", layers.LinkTypeRaw, tcpPacket(ap("[fd00::1]:443"), client6, "OK", 0), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := vmFor(t, f, c.lt).Run(c.pkt)
			if err != nil {
				t.Fatalf("vm: %v", err)
			}
			if got := n > 0; got != c.want {
				t.Fatalf("accepted=%v, want %v", got, c.want)
			}
			var hdr pkt.IP
			ip, err := stripLinkLayer(c.lt, c.pkt, &hdr)
			m := newMatcher(f)
			if got := err == nil && m.ok(ip, &hdr); got != c.want {
				t.Fatalf("matcher says %v, filter %v", got, c.want)
			}
		})
	}
	if _, err := BuildFilter(Filter{Src: f.Src}, layers.LinkTypeEthernet); err != nil {
		t.Fatalf("answers-only filter: %v", err)
	}
}

// TestBuildFilterManyRoutes checks that the jumps stay in range with many
// routes, and that the last route of each family still matches.
func TestBuildFilterManyRoutes(t *testing.T) {
	var f Filter
	for i := 0; i < 300; i++ {
		f.Dst = append(f.Dst,
			netip.MustParseAddrPort(fmt.Sprintf("10.1.%d.%d:%d", i/256, i%256, 1000+i)),
			netip.MustParseAddrPort(fmt.Sprintf("[fd00::%x]:%d", i+1, 2000+i)))
	}
	vm := vmFor(t, f, layers.LinkTypeEthernet)
	src4, src6 := netip.MustParseAddrPort("192.0.2.1:5"), netip.MustParseAddrPort("[2001:db8::1]:5")
	for _, c := range []struct {
		dst  string
		want bool
	}{
		{"10.1.1.43:1299", true}, {"10.1.0.0:1000", true}, {"10.1.1.43:1298", false},
		{"[fd00::12c]:2299", true}, {"[fd00::1]:2000", true}, {"[fd00::12c]:2000", false},
	} {
		dst := netip.MustParseAddrPort(c.dst)
		src := src4
		if dst.Addr().Is6() {
			src = src6
		}
		n, err := vm.Run(ethernet(tcpPacket(src, dst, "", 0), 3))
		if err != nil || (n > 0) != c.want {
			t.Errorf("%s: accepted %d bytes, err %v; want %v", c.dst, n, err, c.want)
		}
	}
}

func TestBuildFilterErrors(t *testing.T) {
	if _, err := BuildFilter(Filter{}, layers.LinkTypeEthernet); err == nil {
		t.Error("empty filter accepted")
	}
	f := Filter{Dst: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80")}}
	if _, err := BuildFilter(f, layers.LinkTypeLinuxSLL); err == nil {
		t.Error("SLL link type accepted for live filtering")
	}
	if _, err := BuildFilter(Filter{Dst: []netip.AddrPort{{}}}, layers.LinkTypeEthernet); err == nil {
		t.Error("zero address accepted")
	}
}

func TestLiveFilterDropsOutgoingFirst(t *testing.T) {
	f := Filter{Dst: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80")}}
	raw, err := liveFilter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := bpf.Disassemble(raw)
	if ext, ok := ins[0].(bpf.LoadExtension); !ok || ext.Num != bpf.ExtType {
		t.Fatalf("first instruction %v, want load of pkt_type", ins[0])
	}
	if r, ok := ins[2].(bpf.RetConstant); !ok || r.Val != 0 {
		t.Fatalf("third instruction %v, want reject", ins[2])
	}
	// The rest is the plain filter.
	plain, _ := BuildFilter(f, layers.LinkTypeEthernet)
	if len(raw) != len(plain)+3 {
		t.Fatalf("live filter has %d instructions, plain %d", len(raw), len(plain))
	}
}

// BenchmarkLivePath is the Go work per captured frame: strip the link layer
// and re-check the destination.
func BenchmarkLivePath(b *testing.B) {
	m := newMatcher(Filter{Dst: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.9:80"), netip.MustParseAddrPort("10.0.0.1:80")}})
	fr := ethernet(tcpPacket(netip.MustParseAddrPort("192.0.2.1:5"), netip.MustParseAddrPort("10.0.0.1:80"), "GET / HTTP/1.1\r\n", 0), 0)
	b.ReportAllocs()
	for b.Loop() {
		var hdr pkt.IP
		ip, err := stripLinkLayer(layers.LinkTypeEthernet, fr, &hdr)
		if err != nil || !m.ok(ip, &hdr) {
			b.Fatal("no match")
		}
	}
}
