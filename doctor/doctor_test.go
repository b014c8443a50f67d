package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/bpf"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
)

func TestPrintAndJSON(t *testing.T) {
	checks := []Check{
		pass("privileges", "CAP_NET_RAW effective"),
		warn("rp_filter eth0", "sysctl -w net.ipv4.conf.eth0.rp_filter=2", "strict"),
		fail("probe 10.0.0.1:80", "on the target: ip route add 10.88.0.0/24 via 10.0.0.40\nsecond line", "no SYN-ACK"),
	}
	var b bytes.Buffer
	if err := Print(&b, checks); err != nil {
		t.Fatal(err)
	}
	want := "PASS  privileges         CAP_NET_RAW effective\n" +
		"WARN  rp_filter eth0     strict\n" +
		"                         fix: sysctl -w net.ipv4.conf.eth0.rp_filter=2\n" +
		"FAIL  probe 10.0.0.1:80  no SYN-ACK\n" +
		"                         fix: on the target: ip route add 10.88.0.0/24 via 10.0.0.40\n" +
		"                         fix: second line\n" +
		"1 passed, 1 warnings, 1 failed\n"
	if b.String() != want {
		t.Errorf("Print:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := JSON(&b, checks); err != nil {
		t.Fatal(err)
	}
	var back []Check
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(checks) {
		t.Errorf("JSON round trip: %v", back)
	}
	if !Failed(checks) || Failed(checks[:2]) {
		t.Error("Failed")
	}
	if c, ok := Find(checks, "probe"); !ok || c.Status != Fail {
		t.Error("Find")
	}
}

func TestParseCapEff(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"Name:\tx\nCapPrm:\t0000000000003000\nCapEff:\t000001ffffffffff\n", 0x1ffffffffff, false},
		{"CapEff:\t0000000000002000\n", 1 << capNetRaw, false},
		{"Name: x\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseCapEff(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseCapEff(%q) = %#x, %v", tt.in, got, err)
		}
	}
}

func TestRandomHost(t *testing.T) {
	tests := []string{"10.88.0.0/24", "10.88.0.0/30", "10.88.0.7/32", "fd88::/64", "10.0.0.0/8"}
	for _, s := range tests {
		p := netip.MustParsePrefix(s)
		for range 200 {
			a := randomHost(p)
			if !p.Contains(a) {
				t.Fatalf("%s: %s outside", s, a)
			}
			if p.Addr().Is4() && p.Bits() <= 30 && (a == p.Addr() || a == lastAddr(p)) {
				t.Fatalf("%s: network or broadcast address %s", s, a)
			}
		}
	}
}

func TestProbeSegment(t *testing.T) {
	tests := []struct{ src, dst string }{
		{"10.88.0.9:40000", "10.77.0.30:80"},
		{"[fd88::9]:40000", "[fd77::30]:443"},
	}
	for _, tt := range tests {
		src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
		syn := probeSegment(src, dst, 1000, 0, header.TCPFlagSyn, 1400)
		if !segmentFrom(syn, src, dst, header.TCPFlagSyn) {
			t.Fatalf("%s: SYN not recognised", tt.src)
		}
		if segmentFrom(syn, dst, src, header.TCPFlagSyn) {
			t.Fatalf("%s: reversed tuple matched", tt.src)
		}
		var v pkt.View
		if err := pkt.Parse(syn, &v); err != nil {
			t.Fatal(err)
		}
		if !v.ChecksumsValid(syn) {
			t.Error("bad checksums")
		}
		if opts := header.ParseSynOptions(v.Options, false); opts.MSS != 1400 {
			t.Errorf("MSS option %d", opts.MSS)
		}
		if v.Seq != 1000 || v.Flags != header.TCPFlagSyn {
			t.Errorf("seq %d flags %v", v.Seq, v.Flags)
		}
		rst := probeSegment(src, dst, 1001, 0, header.TCPFlagRst, 0)
		if !segmentFrom(rst, src, dst, header.TCPFlagRst) || segmentFrom(rst, src, dst, header.TCPFlagSyn) {
			t.Error("RST flags")
		}
	}
}

func TestWatchFilter(t *testing.T) {
	src, dst := netip.MustParseAddrPort("10.88.0.9:40000"), netip.MustParseAddrPort("10.77.0.30:80")
	vm, err := bpf.NewVM(watchFilter(src.Addr(), dst.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	other := netip.MustParseAddrPort("10.88.0.10:40000")
	tests := []struct {
		pkt  []byte
		want bool
	}{
		{probeSegment(src, dst, 1, 0, header.TCPFlagSyn, 1460), true},
		{probeSegment(other, dst, 1, 0, header.TCPFlagSyn, 1460), false},
		{probeSegment(dst, src, 1, 0, header.TCPFlagSyn, 1460), false},
		{[]byte{0x60, 0, 0}, false},
	}
	for i, tt := range tests {
		n, _ := vm.Run(tt.pkt)
		if (n > 0) != tt.want {
			t.Errorf("case %d: accept=%v, want %v", i, n > 0, tt.want)
		}
	}
}

func TestDescribeDialError(t *testing.T) {
	tests := []struct {
		err        error
		detail     string
		fixContain string
	}{
		{wire.ErrAuth, "rejected the token", "[copy].token"},
		{&wire.PeerError{Code: wire.CodeAuth, Msg: "x"}, "rejected the token", "[copy].token"},
		{&wire.PeerError{Code: wire.CodeVersion, Msg: "x"}, "version mismatch", "same replaygw version"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "connection refused", "sudo replaygw up"},
		{errors.New("weird"), "weird", "10.0.0.40"},
	}
	for _, tt := range tests {
		d, f := describeDialError("10.0.0.40:36524", tt.err, "[copy].token")
		if !strings.Contains(d, tt.detail) || !strings.Contains(f, tt.fixContain) {
			t.Errorf("%v: detail %q fix %q", tt.err, d, f)
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func TestConntrackVerdict(t *testing.T) {
	tests := []struct {
		count, max int64
		status     string
	}{
		{0, 262144, Pass},
		{200000, 262144, Pass},
		{220000, 262144, Warn},
		{262144, 262144, Fail},
		{5, 0, Pass},
	}
	for _, tt := range tests {
		c := conntrackVerdict(tt.count, tt.max, []string{"10.77.0.30:80", "[fd77::30]:443"})
		if c.Status != tt.status {
			t.Errorf("%d/%d: %s, want %s", tt.count, tt.max, c.Status, tt.status)
		}
		if c.Status != Pass {
			for _, want := range []string{
				"sysctl -w net.netfilter.nf_conntrack_max=1048576",
				"iptables -t raw -I OUTPUT -p tcp -d 10.77.0.30 --dport 80 -j NOTRACK",
				"ip6tables -t raw -I OUTPUT -p tcp -d fd77::30 --dport 443 -j NOTRACK",
			} {
				if !strings.Contains(c.Fix, want) {
					t.Errorf("%d/%d: fix lacks %q: %q", tt.count, tt.max, want, c.Fix)
				}
			}
		}
	}
}

func TestCheckSourceFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		path, status string
	}{
		{write("a.pcap", []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0}), Pass},
		{write("b.pcapng", []byte{0x0a, 0x0d, 0x0d, 0x0a, 0, 0}), Pass},
		{write("c.txt", []byte("hello")), Fail},
		{write("d", nil), Fail},
		{dir + "/missing", Fail},
	}
	for _, tt := range tests {
		if c := checkSourceFile(tt.path); c.Status != tt.status {
			t.Errorf("%s: %s %s", tt.path, c.Status, c.Detail)
		}
	}
}
