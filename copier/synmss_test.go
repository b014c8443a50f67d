package copier

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestSynthesizedSYNMSS: a mid-stream join announces cfg.MSS on IPv4 and
// cfg.MSS-20 on IPv6 (40-byte IP header); a captured SYN's own MSS is
// replayed unchanged on either family.
func TestSynthesizedSYNMSS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mss      int // Config.MSS; 0 = default
		cli, srv netip.AddrPort
		captured bool // the client's SYN (MSS 1460) was captured
		want     uint16
	}{
		{"v4 default", 0, client4, online4, false, 1460},
		{"v6 default", 0, client6, online6, false, 1440},
		{"v4 configured", 1300, client4, online4, false, 1300},
		{"v6 configured", 1300, client6, online6, false, 1280},
		{"v6 captured SYN", 1300, client6, online6, true, 1460},
		{"v4 captured SYN", 1300, client4, online4, true, 1460},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngRig(t, func(c *Config) { c.MSS = tc.mss })
			c := r.capConn(tc.cli, tc.srv, 7000)
			if tc.captured {
				c.handshake(0)
			} else {
				c.data("GET")
			}
			sent := r.snd.take()
			if len(sent) != 1 || sent[0].flags != header.TCPFlagSyn {
				t.Fatalf("sent %+v, want one SYN", sent)
			}
			if sent[0].src.Addr().Is4() != tc.cli.Addr().Is4() {
				t.Fatalf("SYN from %v for a client %v: family changed", sent[0].src, tc.cli)
			}
			if got := sent[0].opts.MSS; got != tc.want {
				t.Errorf("SYN MSS = %d, want %d", got, tc.want)
			}
		})
	}
}
