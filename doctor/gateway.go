package doctor

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/replaygw/replaygw/configs"
)

// gatewayView is the [gateway] section with defaults and parsed forms.
type gatewayView struct {
	*configs.Gateway
	tun    string
	pools  []netip.Prefix
	listen string
	secret string
	mtu    int
}

func viewGateway(g *configs.Gateway) (gatewayView, []Check) {
	v := gatewayView{Gateway: g, tun: g.TUN, pools: g.PoolPrefixes, listen: g.Listen, secret: g.Secret, mtu: g.MTU}
	var bad []Check
	if v.tun == "" {
		v.tun = configs.DefaultTUN
	}
	if v.listen == "" {
		v.listen = configs.DefaultListen
	}
	if v.mtu <= 0 {
		v.mtu = configs.DefaultMTU
	}
	if v.secret == "" {
		v.secret = g.Token
	}
	if len(v.pools) == 0 {
		for _, s := range g.Pools {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				bad = append(bad, fail("config", "write [gateway].pools entries as CIDRs", "pool %q: %v", s, err))
				continue
			}
			v.pools = append(v.pools, p.Masked())
		}
	}
	return v, bad
}

// RunGateway checks the assistant host for `replaygw up` with cfg.Gateway:
// privileges, the TUN, a route into it for every pool, the ingress
// redirect (or per-interface forwarding), the forwarding leak, rp_filter,
// MTU, conntrack and the control channel.
func RunGateway(ctx context.Context, cfg *configs.Config) []Check {
	if cfg == nil || cfg.Gateway == nil {
		return []Check{fail("config", "add a [gateway] section", "the config has no [gateway] section")}
	}
	g, checks := viewGateway(cfg.Gateway)
	checks = append(checks, checkCaps("up", capNetAdmin))
	tun, tc := checkTUN(g.tun)
	checks = append(checks, tc)
	tunIndex := -1
	if tun != nil {
		tunIndex = tun.Attrs().Index
	}
	for _, p := range g.pools {
		checks = append(checks, checkPoolRoute(p, g.tun, tunIndex))
		checks = append(checks, checkPoolOverlap(p, tunIndex))
	}
	ingress := ingressNames(g.Ingress, g.tun)
	if len(ingress) == 0 {
		checks = append(checks, fail("redirect", "set [gateway].ingress to the interface the target's responses arrive on", "no ingress interface found"))
	}
	redirected := map[string]bool{}
	for _, name := range ingress {
		c, ok := checkRedirect(name, g.tun, tunIndex, g.pools)
		redirected[name] = ok
		checks = append(checks, c)
	}
	checks = append(checks, checkLeak(g, ingress, redirected))
	for _, name := range ingress {
		checks = append(checks, checkRPFilter(name, Warn,
			"responses from targets that this host reaches through another interface are dropped before the TUN"))
	}
	checks = append(checks, checkGatewayMTU(g, ingress)...)
	checks = append(checks, checkConntrack(nil))
	checks = append(checks, checkControl(ctx, g))
	return checks
}

// checkTUN verifies the TUN exists, is a TUN, is up and has a reader.
func checkTUN(name string) (netlink.Link, Check) {
	cn := "tun " + name
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fail(cn, "sudo replaygw up", "TUN %s does not exist: the gateway is not running (%v)", name, err)
	}
	if t := l.Type(); t != "tuntap" {
		return nil, fail(cn, fmt.Sprintf("set [gateway].tun to a free name, or remove the %s %s (ip link del %s)", t, name, name),
			"%s exists but is a %s device, not a TUN", name, t)
	}
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return l, fail(cn, "ip link set "+name+" up", "TUN %s is down", name)
	}
	if a.RawFlags&unix.IFF_LOWER_UP == 0 {
		return l, fail(cn, "sudo replaygw up", "TUN %s has no carrier: no process holds it open, the gateway is not running", name)
	}
	return l, pass(cn, "TUN %s up with a reader (mtu %d)", name, a.MTU)
}

// checkPoolRoute asks the kernel where a pool address goes.
func checkPoolRoute(p netip.Prefix, tunName string, tunIndex int) Check {
	name := "route " + p.String()
	ip := "ip"
	if p.Addr().Is6() {
		ip = "ip -6"
	}
	fix := fmt.Sprintf("%s route replace %s dev %s", ip, p, tunName)
	if tunIndex < 0 {
		fix = "sudo replaygw up   (creates " + tunName + " and routes the pool into it)"
	}
	probe := randomHost(p)
	routes, err := netlink.RouteGet(net.IP(probe.AsSlice()))
	if err != nil || len(routes) == 0 {
		return fail(name, fix, "%s has no route (%v): the pool is not routed into %s", probe, err, tunName)
	}
	r := routes[0]
	if tunIndex >= 0 && r.LinkIndex == tunIndex {
		return pass(name, "%s routes into %s", p, tunName)
	}
	return fail(name, fix, "%s routes via %s, not into the TUN %s", probe, describeRoute(r), tunName)
}

// checkPoolOverlap looks for addresses and routes of this host inside or
// around a pool (other than the TUN's): the gateway absorbs everything sent
// to the pool, so a pool that is also a real network here swallows that
// network's traffic while it runs.
func checkPoolOverlap(p netip.Prefix, tunIndex int) Check {
	name := "pool " + p.String() + " unused here"
	fix := "choose a client_pool (copy) and pools (gateway) that no host on these networks uses"
	family := netlink.FAMILY_V4
	if p.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(nil, family)
	if err != nil {
		return warn(name, "", "cannot list addresses: %v", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && p.Contains(ip.Unmap()) && a.LinkIndex != tunIndex {
			dev := fmt.Sprintf("ifindex %d", a.LinkIndex)
			if l, err := netlink.LinkByIndex(a.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			return fail(name, fix, "this host's address %s on %s is inside the pool: its traffic would be absorbed", ip.Unmap(), dev)
		}
	}
	routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return warn(name, "", "cannot list routes: %v", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.LinkIndex == tunIndex && tunIndex >= 0 {
			continue // the default route, or ours
		}
		ones, _ := r.Dst.Mask.Size()
		ip, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok || ones == 0 {
			continue
		}
		// A broader route (10.0.0.0/8 around a /24 pool) is the usual
		// case: the pool is carved out of space routed elsewhere. A route
		// to the pool or inside it means this host talks to those addresses.
		d := netip.PrefixFrom(ip.Unmap(), ones)
		if d.Overlaps(p) && d.Bits() >= p.Bits() {
			return warn(name, fix, "route %s via %s lies in the pool: while the gateway runs, those addresses go to the TUN instead", d, describeRoute(r))
		}
	}
	return pass(name, "no address or route of this host overlaps %s", p)
}

func describeRoute(r netlink.Route) string {
	dev := fmt.Sprintf("ifindex %d", r.LinkIndex)
	if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
		dev = l.Attrs().Name
	}
	if r.Gw != nil {
		return fmt.Sprintf("%s gateway %s", dev, r.Gw)
	}
	return dev
}

// ingressNames resolves [gateway].ingress like the tunnel does: the listed
// names, or every up interface except loopback and the TUN.
func ingressNames(spec, tun string) []string {
	var names []string
	if spec != "" {
		for n := range strings.SplitSeq(spec, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		return names
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Name == tun || a.Flags&net.FlagLoopback != 0 || a.Flags&net.FlagUp == 0 {
			continue
		}
		names = append(names, a.Name)
	}
	return names
}

// checkRedirect looks on ingress for a tc ingress filter whose mirred
// action redirects to the TUN (one per pool family), or else for
// per-interface forwarding. ok is true when a tc redirect covers every
// pool family.
func checkRedirect(ingress, tunName string, tunIndex int, pools []netip.Prefix) (Check, bool) {
	name := "redirect " + ingress
	l, err := netlink.LinkByName(ingress)
	if err != nil {
		return fail(name, "set [gateway].ingress to one of: "+linkNames(), "ingress interface %s not found", ingress), false
	}
	var need4, need6 bool
	for _, p := range pools {
		need4, need6 = need4 || p.Addr().Is4(), need6 || p.Addr().Is6()
	}
	if tunIndex < 0 {
		return fail(name, "sudo replaygw up   (creates "+tunName+" and installs the redirect)",
			"no TUN %s to redirect the responses arriving on %s to", tunName, ingress), false
	}
	have4, have6, kinds, qdisc := ingressRedirects(l, tunIndex)
	if (have4 || !need4) && (have6 || !need6) {
		return pass(name, "tc ingress redirect to %s (%s)", tunName, strings.Join(kinds, ", ")), true
	}
	fwd4, _ := sysctlInt(ifKey("ipv4", ingress, "forwarding"))
	fwd6, _ := sysctlInt(ifKey("ipv6", ingress, "force_forwarding"))
	if all6, _ := sysctlInt("net.ipv6.conf.all.forwarding"); all6 == 1 {
		fwd6 = 1
	}
	if (fwd4 == 1 || !need4) && (fwd6 == 1 || !need6) {
		return pass(name, "no tc redirect; forwarding is on for %s, so pool-bound responses are routed into the TUN", ingress), false
	}
	var fix []string
	fix = append(fix, "sudo replaygw up   (installs the redirect), or by hand:")
	if !qdisc {
		fix = append(fix, "tc qdisc add dev "+ingress+" clsact")
	}
	for _, p := range pools {
		if p.Addr().Is4() {
			fix = append(fix, fmt.Sprintf("tc filter add dev %s ingress protocol ip u32 match ip dst %s action mirred egress redirect dev %s", ingress, p, tunName))
		} else {
			fix = append(fix, fmt.Sprintf("tc filter add dev %s ingress protocol ipv6 u32 match ip6 dst %s action mirred egress redirect dev %s", ingress, p, tunName))
		}
	}
	return fail(name, strings.Join(fix, "\n"),
		"no tc redirect to %s and forwarding off on %s: the target's responses arriving there are dropped before the TUN", tunName, ingress), false
}

// ingressRedirects lists the ingress filters of l that redirect (mirred)
// to tunIndex, by protocol, and whether a clsact or ingress qdisc exists.
func ingressRedirects(l netlink.Link, tunIndex int) (v4, v6 bool, kinds []string, qdisc bool) {
	qs, err := netlink.QdiscList(l)
	if err != nil {
		return false, false, nil, false
	}
	for _, q := range qs {
		var parent uint32
		switch q.Type() {
		case "clsact":
			parent = netlink.HANDLE_MIN_INGRESS
		case "ingress":
			parent = netlink.HANDLE_INGRESS
		default:
			continue
		}
		qdisc = true
		fs, err := netlink.FilterList(l, parent)
		if err != nil {
			continue
		}
		for _, f := range fs {
			var acts []netlink.Action
			switch f := f.(type) {
			case *netlink.U32:
				acts = f.Actions
			case *netlink.Flower:
				acts = f.Actions
			case *netlink.MatchAll:
				acts = f.Actions
			}
			if !redirectsTo(acts, tunIndex) {
				continue
			}
			a := f.Attrs()
			kinds = append(kinds, fmt.Sprintf("%s prio %d", f.Type(), a.Priority))
			switch a.Protocol {
			case unix.ETH_P_IP:
				v4 = true
			case unix.ETH_P_IPV6:
				v6 = true
			case unix.ETH_P_ALL:
				v4, v6 = true, true
			}
		}
	}
	return v4, v6, kinds, qdisc
}

func redirectsTo(acts []netlink.Action, ifindex int) bool {
	for _, a := range acts {
		if m, ok := a.(*netlink.MirredAction); ok && m.Ifindex == ifindex &&
			(m.MirredAction == netlink.TCA_EGRESS_REDIR || m.MirredAction == netlink.TCA_INGRESS_REDIR) {
			return true
		}
	}
	return false
}

// checkLeak fails when the host forwards IP globally and some ingress has
// no tc redirect: pool-bound responses are then routed, and as soon as the
// TUN and its routes are gone (gateway stopped) they go on to the real
// clients, which answer the target with resets.
func checkLeak(g gatewayView, ingress []string, redirected map[string]bool) Check {
	name := "leak"
	var v4, v6 bool
	for _, p := range g.pools {
		v4, v6 = v4 || p.Addr().Is4(), v6 || p.Addr().Is6()
	}
	fwd4, _ := sysctlInt("net.ipv4.ip_forward")
	fwd6, _ := sysctlInt("net.ipv6.conf.all.forwarding")
	on := (v4 && fwd4 == 1) || (v6 && fwd6 == 1)
	var bare []string
	for _, n := range ingress {
		if !redirected[n] {
			bare = append(bare, n)
		}
	}
	if !on {
		if len(bare) > 0 {
			for _, n := range bare {
				if f, _ := sysctlInt(ifKey("ipv4", n, "forwarding")); f == 1 {
					return warn(name, "sudo replaygw up with [gateway].redirect = \"tc\"",
						"forwarding is on for %s: while the gateway runs responses go into the TUN, but if it stops they are forwarded to the real clients", n)
				}
			}
		}
		return pass(name, "IP forwarding is off: pool-bound responses are never forwarded")
	}
	if len(bare) == 0 {
		return pass(name, "IP forwarding is on, but the tc redirect takes pool-bound responses before routing")
	}
	var now []string
	for _, p := range g.pools {
		routes, err := netlink.RouteGet(net.IP(randomHost(p).AsSlice()))
		if err == nil && len(routes) > 0 {
			now = append(now, fmt.Sprintf("%s now routes via %s", p, describeRoute(routes[0])))
		} else {
			now = append(now, fmt.Sprintf("%s has no route", p))
		}
	}
	var keys []string
	if v4 && fwd4 == 1 {
		keys = append(keys, "net.ipv4.ip_forward=0")
	}
	if v6 && fwd6 == 1 {
		keys = append(keys, "net.ipv6.conf.all.forwarding=0")
	}
	return fail(name, "sysctl -w "+strings.Join(keys, " ")+"\nthen sudo replaygw up (its tc redirect needs no forwarding)",
		"IP forwarding is on and %s has no tc redirect: responses may be forwarded to real clients (whenever the TUN route is missing; %s)",
		strings.Join(bare, ", "), strings.Join(now, "; "))
}

// checkGatewayMTU warns when responses that fit the ingress MTU do not fit
// the TUN.
func checkGatewayMTU(g gatewayView, ingress []string) []Check {
	tunMTU := g.mtu
	if l, err := netlink.LinkByName(g.tun); err == nil {
		tunMTU = l.Attrs().MTU
	}
	for _, n := range ingress {
		l, err := netlink.LinkByName(n)
		if err != nil {
			continue
		}
		if m := l.Attrs().MTU; m > tunMTU {
			return []Check{warn("mtu", fmt.Sprintf("set [gateway].mtu = %d (then sudo replaygw down && sudo replaygw up)", m),
				"responses up to %d bytes arrive on %s but the TUN %s MTU is %d: larger ones are lost", m, n, g.tun, tunMTU)}
		}
	}
	return []Check{pass("mtu", "TUN %s MTU %d covers the ingress interfaces", g.tun, tunMTU)}
}

// checkControl connects to the gateway's own control channel and runs the
// handshake with its token.
func checkControl(ctx context.Context, g gatewayView) Check {
	name := "control " + g.listen
	host, port, err := net.SplitHostPort(g.listen)
	if err != nil {
		return fail(name, "write [gateway].listen as host:port, e.g. \":36524\"", "%v", err)
	}
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	} else if host == "::" {
		host = "::1"
	}
	if g.secret == "" {
		return fail(name, "set [gateway].token or token_file", "no token configured")
	}
	addr := net.JoinHostPort(host, port)
	c, err := dialGateway(ctx, addr, []byte(g.secret), DialTimeout, nil)
	if err != nil {
		detail, fix := describeDialError(addr, err, "[gateway].token")
		if strings.HasPrefix(detail, "the gateway rejected the token") {
			detail = "the running gateway rejects this config's token: it was started with another config"
			fix = "sudo replaygw down && sudo replaygw up"
		}
		if strings.HasPrefix(detail, "connection refused") {
			fix = "sudo replaygw up"
		}
		return fail(name, fix, "%s", detail)
	}
	c.Close()
	return pass(name, "control channel answers on %s and accepts the token", addr)
}
