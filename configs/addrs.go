package configs

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
)

// Address checks: a replay must never be aimed at production, at an
// address no packet can go to, or at the pools whose traffic the gateway
// swallows.

// specialRanges are the prefixes that can hold neither a client pool nor
// a route's address, with the reason.
var specialRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "the unspecified (\"this host\") range"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// checkPoolRange reports a pool that overlaps a special range.
func (ch *checker) checkPoolRange(key string, p netip.Prefix) bool {
	for _, s := range specialRanges {
		if p.Overlaps(s.prefix) {
			ch.errf(key, "%s overlaps %s (%s): client addresses there cannot be routed to the target and back", p, s.prefix, s.what)
			return false
		}
	}
	return true
}

// routeAddr reports an address that a replayed packet cannot be sent to or
// from. Loopback is refused unless the route says allow_local = true (the
// target or the online service really is on this host, e.g. a lab).
func (ch *checker) routeAddr(key string, ap netip.AddrPort, allowLocal bool) {
	a := ap.Addr()
	switch {
	case a.IsUnspecified():
		ch.errf(key, "%s is the unspecified address: name the service's own address", ap)
	case a.IsMulticast():
		ch.errf(key, "%s is a multicast address: TCP sessions need a unicast one", ap)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		ch.errf(key, "%s is the broadcast address: TCP sessions need a unicast one", ap)
	case a.IsLoopback() && !allowLocal:
		ch.errf(key, "%s is a loopback address: only this host could answer; if that is what you want, set allow_local = true on this route", ap)
	}
}

// checkRouteTargets compares each route with the others and with the
// pools: to must not be any route's from (replaying into production), and
// no route address may lie in a client pool.
func (p *Copy) checkRouteTargets(ch *checker, gw *Gateway) {
	for i, r := range p.Routes {
		if !r.ToAddr.IsValid() {
			continue
		}
		key := fmt.Sprintf("copy.route[%d]", i)
		p.checkReplayTarget(ch, key+".to", r.ToAddr)
		for _, end := range []struct {
			key string
			ap  netip.AddrPort
		}{{key + ".from", r.FromAddr}, {key + ".to", r.ToAddr}} {
			p.checkOutsidePools(ch, gw, end.key, end.ap)
		}
	}
}

// checkReplayTarget reports a target (a route's to or noise target) that
// is some route's online service.
func (p *Copy) checkReplayTarget(ch *checker, key string, ap netip.AddrPort) {
	for j, o := range p.Routes {
		if o.FromAddr.IsValid() && o.FromAddr == ap {
			ch.errf(key, "%s is copy.route[%d].from, the online service: the replay would go into production", ap, j)
		}
	}
}

// checkOutsidePools reports a service address inside the client pool or a
// gateway pool.
func (p *Copy) checkOutsidePools(ch *checker, gw *Gateway, key string, ap netip.AddrPort) {
	if !ap.IsValid() {
		return
	}
	if p.ClientPrefix.IsValid() && p.ClientPrefix.Contains(ap.Addr()) {
		ch.errf(key, "%s is inside copy.client_pool (%s): replayed clients would take the service's address", ap, p.ClientPrefix)
	}
	if gw == nil {
		return
	}
	for k, q := range gw.PoolPrefixes {
		if q.Contains(ap.Addr()) {
			ch.errWith([]string{"copy", "gateway"}, key, "%s is inside gateway.pools[%d] (%s): the gateway would absorb the service's own packets", ap, k, q)
		}
	}
}

// checkListeners reports two listeners of one process on the same address.
func (c *Config) checkListeners(ch *checker) {
	if c.Gateway == nil || c.Metrics.Listen == "" {
		return
	}
	if sameListener(c.Gateway.Listen, c.Metrics.Listen) {
		ch.errWith([]string{"gateway", "metrics"}, "metrics.listen", "%q and gateway.listen (%q) are the same address: the second listener could not start", c.Metrics.Listen, c.Gateway.Listen)
	}
}

// sameListener reports whether two listen addresses collide: the same
// port, and hosts that are equal or of which one is every address.
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb {
		return false
	}
	any := func(h string) bool {
		ip, err := netip.ParseAddr(h)
		return h == "" || err == nil && ip.IsUnspecified()
	}
	return ha == hb || any(ha) || any(hb)
}

// interfaceKind reports whether the network interface name exists on this
// host and whether it is a TUN/TAP device. Tests replace it.
var interfaceKind = sysInterfaceKind

// sysInterfaceKind reads /sys/class/net: a TUN/TAP device has tun_flags.
func sysInterfaceKind(name string) (exists, tun bool) {
	dir := filepath.Join("/sys/class/net", name)
	if _, err := os.Stat(dir); err != nil {
		return false, false
	}
	_, err := os.Stat(filepath.Join(dir, "tun_flags"))
	return true, err == nil
}

// tunName reports a TUN name that is already an interface of another kind:
// opening it as a TUN would fail, or take over the wrong device.
func (ch *checker) tunName(key, name string) {
	if !validIfName(name) || ch.skip[key] {
		return
	}
	if exists, tun := interfaceKind(name); exists && !tun {
		ch.errf(key, "%q is an existing interface that is not a TUN device; choose a free name", name)
	}
}
