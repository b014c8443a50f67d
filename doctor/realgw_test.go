package doctor

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/tunnel"
)

// realGateway is the gateway built from the real parts available: the
// tunnel package (TUN, pool routes, tc ingress redirect) and the
// gateway control-channel server; a plain TUN reader stands in for the
// gVisor stack and hands each TCP segment to Server.Deliver.
type realGateway struct {
	tun  *tunnel.Tunnel
	srv  *gateway.Server
	wg   sync.WaitGroup
	once sync.Once
}

func (l *lab) startRealGateway(t *testing.T, pools ...string) *realGateway {
	t.Helper()
	if len(pools) == 0 {
		pools = []string{labPool}
	}
	var prefixes []netip.Prefix
	for _, p := range pools {
		prefixes = append(prefixes, netip.MustParsePrefix(p))
	}
	g := &realGateway{}
	var err error
	l.in(t, "gw", func() {
		g.tun, err = tunnel.Open(tunnel.Config{
			Name: tunName, Pools: prefixes,
			Ingress: "eth0", Redirect: "tc", StateDir: t.TempDir(),
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", ":36524"); err != nil {
			g.tun.Close()
			return
		}
		if g.srv, err = gateway.NewServer(gateway.ServerConfig{Token: labToken}, slog.New(slog.DiscardHandler)); err != nil {
			ln.Close()
			g.tun.Close()
			return
		}
		g.wg.Add(2)
		go func() { defer g.wg.Done(); g.srv.Serve(ln) }()
		go func() { defer g.wg.Done(); g.read(g.tun.Queues()[0]) }()
	})
	if err != nil {
		t.Fatalf("real gateway: %v", err)
	}
	t.Cleanup(func() { l.in(t, "gw", g.Close) })
	return g
}

// Close must run in the gateway's namespace (the tunnel removes its
// routes and filters with netlink).
func (g *realGateway) Close() {
	g.once.Do(func() {
		g.srv.Close()
		g.tun.Close()
		g.wg.Wait()
	})
}

func (g *realGateway) read(f *os.File) {
	buf := make([]byte, 65536)
	for {
		n, err := f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		r, ok := recordFrom(buf[:n])
		if !ok {
			continue
		}
		g.srv.Deliver(&r)
	}
}

func TestRgDRealGateway(t *testing.T) {
	l := newLab(t)
	g := l.startRealGateway(t)
	l.startTarget(t)
	cfg := labConfig(labToken)

	gc := l.gateway(t, cfg)
	noFails(t, gc)
	expect(t, gc, "redirect eth0", Pass, "tc ingress redirect", "")
	expect(t, gc, "control :36524", Pass, "accepts the token", "")
	cc := l.copier(t, cfg)
	noFails(t, cc)
	expect(t, cc, "probe "+targetIP+":8080", Pass, "SYN-ACK", "")

	bad := labConfig("wrong")
	expect(t, l.copier(t, bad), "gateway "+gwCtl, Fail, "rejected the token", "[copy].token")

	l.in(t, "gw", g.Close)
	expect(t, l.copier(t, cfg), "gateway "+gwCtl, Fail, "connection refused", "sudo replaygw up")
	gc = l.gateway(t, cfg)
	expect(t, gc, "tun "+tunName, Fail, "does not exist", "sudo replaygw up")
	expect(t, gc, "redirect eth0", Fail, "no TUN rgw0", "sudo replaygw up")
	// The tunnel removed its qdisc and filters, and the route with the TUN.
	if out := l.run(t, "gw", "tc", "filter", "show", "dev", "eth0", "ingress"); out != "" {
		t.Errorf("filters left: %s", out)
	}
}

func TestRgDIPv6(t *testing.T) {
	l := newLab(t)
	l.startRealGateway(t, labPool, labPool6)
	var ln net.Listener
	var err error
	l.in(t, "tg", func() { ln, err = net.Listen("tcp", "["+target6+"]:8080") })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := labConfig(labToken)
	cfg.Gateway.Pools = []string{labPool, labPool6}
	cfg.Copy.ClientPool = labPool6
	cfg.Copy.MSS = 1440
	cfg.Copy.Routes = []configs.Route{{From: "[" + online6 + "]:8080", To: "[" + target6 + "]:8080"}}

	gc := l.gateway(t, cfg)
	noFails(t, gc)
	expect(t, gc, "route "+labPool6, Pass, "into "+tunName, "")
	cc := l.copier(t, cfg)
	noFails(t, cc)
	expect(t, cc, "probe ["+target6+"]:8080", Pass, "SYN-ACK", "")

	l.run(t, "tg", "ip", "-6", "route", "del", labPool6)
	expect(t, l.copier(t, cfg), "probe", Fail, "the SYN left via eth0", "on the target "+target6+": ip -6 route add "+labPool6+" via <IPv6 address of the gateway host "+gwIP+">")

	// With the control channel over IPv6 the hint names the address.
	l.run(t, "tg", "ip", "-6", "route", "add", labPool6, "via", gw6)
	cfg.Copy.Gateways = []string{"[" + gw6 + "]:36524"}
	expect(t, l.copier(t, cfg), "probe", Pass, "SYN-ACK", "")
	l.run(t, "tg", "ip", "-6", "route", "del", labPool6)
	expect(t, l.copier(t, cfg), "probe", Fail, "the SYN left via eth0", "on the target "+target6+": ip -6 route add "+labPool6+" via "+gw6)
}
