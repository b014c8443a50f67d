package doctor

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/wire"
)

// DialTimeout bounds each gateway connect and handshake.
const DialTimeout = 3 * time.Second

// copyView is the [copy] section with its parsed forms filled in, whether
// or not configs.Load ran.
type copyView struct {
	*configs.Copy
	pool    netip.Prefix
	targets []netip.AddrPort
	secret  string
}

func viewCopy(c *configs.Copy) (copyView, []Check) {
	v := copyView{Copy: c, pool: c.ClientPrefix, secret: c.Secret}
	var bad []Check
	if !v.pool.IsValid() && c.ClientPool != "" {
		p, err := netip.ParsePrefix(c.ClientPool)
		if err != nil {
			bad = append(bad, fail("config", "write [copy].client_pool as a CIDR, e.g. \"10.88.0.0/24\"", "client_pool %q: %v", c.ClientPool, err))
		}
		v.pool = p
	}
	for _, r := range c.Routes {
		t := r.ToAddr
		if !t.IsValid() {
			var err error
			if t, err = netip.ParseAddrPort(r.To); err != nil {
				bad = append(bad, fail("config", "write [[copy.route]] to as ip:port", "route to %q: %v", r.To, err))
				continue
			}
		}
		v.targets = append(v.targets, t)
	}
	if v.secret == "" {
		v.secret = c.Token
	}
	return v, bad
}

// RunCopier checks the online host for `replaygw copy` with cfg.Copy:
// privileges, the capture interface, raw sockets, rp_filter, conntrack,
// MTU/MSS, every gateway (connect and token) and, through the connected
// gateways, the active probe of every route's target.
func RunCopier(ctx context.Context, cfg *configs.Config) []Check {
	if cfg == nil || cfg.Copy == nil {
		return []Check{fail("config", "add a [copy] section", "the config has no [copy] section")}
	}
	c, checks := viewCopy(cfg.Copy)
	checks = append(checks, checkCaps("copy", capNetRaw))
	if c.Source == "" || c.Source == "live" {
		checks = append(checks, checkCapture(c.Interface))
	} else {
		checks = append(checks, checkSourceFile(c.Source))
	}
	var v4, v6 bool
	for _, t := range c.targets {
		v4, v6 = v4 || t.Addr().Is4(), v6 || t.Addr().Is6()
	}
	switch c.Sender {
	case "", "raw":
		checks = append(checks, checkRawSocket(v4 || !v6, v6))
	}
	if c.Interface != "" {
		checks = append(checks, checkRPFilter(c.Interface, Warn,
			"raw sends are not affected, but pool-sourced packets entering this host here are dropped (appliance mode, re-injected mirror traffic)"))
	}
	if c.Sender == "tun" && c.SendInterface != "" {
		checks = append(checks, checkRPFilter(c.SendInterface, Fail,
			"the pool-sourced packets written into "+c.SendInterface+" have no route back through it and are dropped"))
	}
	var targets []string
	for _, t := range c.targets {
		targets = append(targets, t.String())
	}
	checks = append(checks, checkConntrack(targets))
	checks = append(checks, checkCopyMTU(cfg, c)...)

	// Gateways, then the probe through the ones that answered.
	if len(c.Gateways) == 0 {
		checks = append(checks, fail("gateways", "list the gateway control addresses in [copy].gateways", "no gateways configured"))
		return checks
	}
	recs := make(chan wire.Record, 256)
	var gws []*gwClient
	var hosts []string
	for _, addr := range c.Gateways {
		name := "gateway " + addr
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			checks = append(checks, fail(name, "write [copy].gateways entries as host:port", "%v", err))
			continue
		}
		hosts = append(hosts, host)
		if c.secret == "" {
			checks = append(checks, fail(name, "set [copy].token (or token_file) to the gateway's token", "no token configured"))
			continue
		}
		g, err := dialGateway(ctx, addr, []byte(c.secret), DialTimeout, recs)
		if err != nil {
			detail, fix := describeDialError(addr, err, "[copy].token")
			checks = append(checks, fail(name, fix, "%s", detail))
			continue
		}
		defer g.Close()
		gws = append(gws, g)
		checks = append(checks, pass(name, "connected, token accepted (gateway %q, payload cap %d)", g.peer.Name, g.peer.PayloadCap))
	}
	switch {
	case len(c.targets) == 0:
		checks = append(checks, fail("probe", "add a [[copy.route]] with from and to", "no routes configured"))
	case !c.pool.IsValid():
		checks = append(checks, warn("probe", "set [copy].client_pool to probe the path", "skipped: without a client pool the probe has no address the gateway owns"))
	case len(gws) == 0:
		checks = append(checks, fail("probe", "fix the gateway checks above", "skipped: no gateway connected"))
	default:
		mss := c.MSS
		if mss <= 0 {
			mss = 1460
		}
		p := &prober{gws: gws, gwHosts: hosts, recs: recs, pool: c.pool, mss: mss, timeout: ProbeTimeout}
		for _, t := range c.targets {
			checks = append(checks, p.probe(ctx, t))
		}
	}
	return checks
}

// checkCopyMTU compares the MSS the copier announces with the MTU of the
// interfaces the segments cross (capture/egress interface, the gateway TUN
// in appliance mode).
func checkCopyMTU(cfg *configs.Config, c copyView) []Check {
	mss := c.MSS
	if mss <= 0 {
		mss = 1460
	}
	overhead := 40
	for _, t := range c.targets {
		if t.Addr().Is6() {
			overhead = 60
		}
	}
	type hop struct {
		what string
		mtu  int
		fix  string
	}
	var hops []hop
	if l, err := netlink.LinkByName(c.Interface); err == nil {
		hops = append(hops, hop{"interface " + c.Interface, l.Attrs().MTU, ""})
	}
	seen := map[string]bool{c.Interface: true}
	for _, t := range c.targets {
		if name, _, err := egressOf(t.Addr()); err == nil && !seen[name] {
			seen[name] = true
			if l, err := netlink.LinkByName(name); err == nil {
				hops = append(hops, hop{"egress " + name, l.Attrs().MTU, ""})
			}
		}
	}
	if g := cfg.Gateway; g != nil {
		mtu := g.MTU
		if mtu <= 0 {
			mtu = 1500
		}
		hops = append(hops, hop{"gateway TUN", mtu, fmt.Sprintf("set [gateway].mtu = %d", mss+overhead)})
	}
	var parts []string
	for _, h := range hops {
		parts = append(parts, fmt.Sprintf("%s %d", h.what, h.mtu))
		if mss+overhead > h.mtu {
			fix := fmt.Sprintf("set [copy].mss = %d", h.mtu-overhead)
			if h.fix != "" {
				fix += "\nor " + h.fix
			}
			return []Check{warn("mtu", fix, "[copy].mss %d needs %d-byte packets but the %s MTU is %d: full-size segments of sessions with a synthesized SYN are fragmented or dropped",
				mss, mss+overhead, h.what, h.mtu)}
		}
	}
	return []Check{pass("mtu", "mss %d fits: %s", mss, strings.Join(parts, ", "))}
}

// checkSourceFile verifies a pcap source is readable.
func checkSourceFile(path string) Check {
	name := "source"
	f, err := os.Open(path)
	if err != nil {
		return fail(name, "set [copy].source to a readable pcap/pcapng file, or \"live\"", "cannot open %s: %v", path, err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return fail(name, "set [copy].source to a pcap/pcapng file", "%s: too short for a capture file", path)
	}
	switch binary.LittleEndian.Uint32(magic[:]) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a:
		return pass(name, "capture file %s", path)
	}
	return fail(name, "set [copy].source to a pcap/pcapng file", "%s is not a pcap or pcapng file (magic %x)", path, magic)
}
