package absorb

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/replaygw/replaygw/lab/netns"
	"github.com/replaygw/replaygw/tunnel"
	"github.com/replaygw/replaygw/wire"
)

// TestAnswerPingNetns: with AnswerPing on (tunnel and stack), an echo
// request from the target to a pool address gets its reply back, with
// ip_forward=0; the replies are the only writes.
func TestAnswerPingNetns(t *testing.T) {
	v4 := netip.MustParsePrefix("10.88.5.0/24")
	v6 := netip.MustParsePrefix("fd88::/120")
	pools := []netip.Prefix{v4, v6}
	l := netns.NewPair(t, nsPrefix, v4.String(), v6.String())
	tunName := l.Link("u")
	var tun *tunnel.Tunnel
	netns.InNS(t, l.GW, func() (err error) {
		tun, err = tunnel.Open(tunnel.Config{Name: tunName, Pools: pools, Ingress: l.VethG, AnswerPing: true, StateDir: t.TempDir()})
		return err
	})
	t.Cleanup(func() { netns.InNS(t, l.GW, tun.Close) })
	var rec recorder
	s, err := New(Config{Queues: tun.Queues(), AnswerPing: true, Pools: pools}, rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	tests := []struct {
		network, listen, dst string
		req, reply           icmp.Type
		proto                int
	}{
		{"ip4:icmp", "0.0.0.0", "10.88.5.7", ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply, 1},
		{"ip6:ipv6-icmp", "::", "fd88::7", ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58},
	}
	for _, tt := range tests {
		var c net.PacketConn
		netns.InNS(t, l.Tgt, func() (err error) {
			c, err = net.ListenPacket(tt.network, tt.listen)
			return err
		})
		defer c.Close()
		msg, _ := (&icmp.Message{Type: tt.req, Body: &icmp.Echo{ID: 77, Seq: 1, Data: []byte("replaygw")}}).Marshal(nil)
		// ICMPv6 checksums are filled in by the kernel on raw ICMPv6 sockets.
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(tt.dst)}); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("%s: no echo reply from %s: %v (stats %v)", tt.network, tt.dst, err, s.Stats().Counters())
			}
			m, err := icmp.ParseMessage(tt.proto, buf[:n])
			if err != nil || m.Type != tt.reply {
				continue // our own request, NDP, ...
			}
			e, ok := m.Body.(*icmp.Echo)
			if !ok || e.ID != 77 || string(e.Data) != "replaygw" || from.String() != tt.dst {
				t.Fatalf("%s: reply %+v from %v", tt.network, m.Body, from)
			}
			break
		}
	}
	// The reply can arrive before the reader counts its write.
	waitFor(t, "writes_allowed", func() bool { return s.Stats().WritesAllowed.Load() >= 2 })
	time.Sleep(50 * time.Millisecond)
	st := s.Stats()
	if st.WritesAllowed.Load() != 2 || st.WritesAttempted.Load() != 0 {
		t.Fatalf("writes_allowed %d (want 2), writes_attempted %d (want 0)", st.WritesAllowed.Load(), st.WritesAttempted.Load())
	}
}

// TestTUNDeletedNetns: when the TUN disappears under the readers (`replaygw
// down` from another process), they stop with a counted read error and
// Close still returns.
func TestTUNDeletedNetns(t *testing.T) {
	v4 := netip.MustParsePrefix("10.88.6.0/24")
	l := netns.NewPair(t, nsPrefix, v4.String())
	tunName := l.Link("u")
	var tun *tunnel.Tunnel
	netns.InNS(t, l.GW, func() (err error) {
		tun, err = tunnel.Open(tunnel.Config{Name: tunName, Queues: 2, Pools: []netip.Prefix{v4}, Ingress: l.VethG, StateDir: t.TempDir()})
		return err
	})
	t.Cleanup(func() { netns.InNS(t, l.GW, tun.Close) })
	s, err := New(Config{Queues: tun.Queues()}, func(*wire.Record) {})
	if err != nil {
		t.Fatal(err)
	}
	netns.Sh(t, "ip", "-n", l.GW, "link", "del", tunName)
	waitFor(t, "both readers to stop", func() bool { return s.Stats().ReadErrors.Load() == 2 })
	closeWithin(t, s, "Close hangs after the TUN was deleted")
}
