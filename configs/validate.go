package configs

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// check validates every section, refreshing the parsed fields.
func (c *Config) check(ch *checker) {
	c.checkSections(ch)
	dir := ""
	if c.Path != "" {
		dir = filepath.Dir(c.Path)
	}
	if c.Gateway != nil {
		c.Gateway.check(ch, dir)
	}
	if c.Copy != nil {
		c.Copy.check(ch, dir, c.Gateway)
		c.checkRouteCompare(ch)
	}
	if c.Compare != nil {
		c.Compare.check(ch, dir)
	}
	if c.Metrics.Listen != "" && ch.hostPort("metrics.listen", c.Metrics.Listen, true) {
		c.checkListeners(ch)
	}
	ch.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ch.oneOf("log.format", c.Log.Format, "text", "json")
}

func (g *Gateway) check(ch *checker, dir string) {
	ch.ifName("gateway.tun", g.TUN)
	ch.tunName("gateway.tun", g.TUN)
	g.checkIngress(ch)

	g.PoolPrefixes = nil
	if len(g.Pools) == 0 {
		ch.errf("gateway.pools", "missing: at least one client pool CIDR is required, e.g. pools = [\"10.88.0.0/24\"]")
	}
	keys := make([]string, 0, len(g.Pools))
	ipv6 := false
	for i, s := range g.Pools {
		key := fmt.Sprintf("gateway.pools[%d]", i)
		p, ok := ch.prefix(key, s)
		if !ok {
			continue
		}
		if p.Bits() == 0 {
			ch.errf(key, "%q would route every address into the TUN", s)
			continue
		}
		if !ch.checkPoolRange(key, p) {
			continue
		}
		for j, q := range g.PoolPrefixes {
			if p.Overlaps(q) {
				ch.errf(key, "%s overlaps %s (%s)", p, keys[j], q)
			}
		}
		keys = append(keys, key)
		g.PoolPrefixes = append(g.PoolPrefixes, p)
		ipv6 = ipv6 || p.Addr().Is6()
	}

	if g.Listen == "" {
		ch.errf("gateway.listen", "missing: the control channel needs an address, e.g. \":36524\"")
	} else {
		ch.hostPort("gateway.listen", g.Listen, true)
	}
	g.Secret = ch.secret("gateway", g.Token, g.TokenFile, dir, true)

	ch.tokenStrength("gateway", g.Token, g.Secret)
	ch.intRange("gateway.cpus", g.CPUs, 1, MaxGatewayCPUs)
	ch.intRange("gateway.queues", g.Queues, 1, MaxQueues)
	ch.intRange("gateway.mtu", g.MTU, 576, 65535)
	if ipv6 && g.MTU >= 576 && g.MTU < 1280 {
		ch.errf("gateway.mtu", "%d is below 1280, the IPv6 minimum, and a pool is IPv6", g.MTU)
	}
	if g.TxQueueLen < 0 {
		ch.errf("gateway.txqueuelen", "%d is negative", g.TxQueueLen)
	} else {
		ch.intRange("gateway.txqueuelen", g.TxQueueLen, 0, math.MaxInt32)
	}
	ch.oneOf("gateway.redirect", g.Redirect, "auto", "tc", "forwarding")
	ch.intRange("gateway.payload_cap", g.PayloadCap, 0, MaxPayloadCap)
	ch.duration("gateway.hold_early", g.HoldEarly, time.Minute)
	ch.duration("gateway.lease_ttl", g.LeaseTTL, 24*time.Hour)
	if g.CopierQueue < 1 {
		ch.errf("gateway.copier_queue", "%d must be at least 1", g.CopierQueue)
	} else {
		ch.intRange("gateway.copier_queue", g.CopierQueue, 1, MaxCopierQueue)
	}
}

// checkIngress checks the comma-separated ingress interfaces: names Linux
// accepts, each once, never the TUN itself.
func (g *Gateway) checkIngress(ch *checker) {
	if g.Ingress == "" {
		return
	}
	seen := map[string]bool{}
	for n := range strings.SplitSeq(g.Ingress, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			ch.errf("gateway.ingress", "%q has an empty name; write \"eth0\" or \"eth0,eth1\"", g.Ingress)
		case seen[n]:
			ch.errf("gateway.ingress", "%q lists %s twice", g.Ingress, n)
		case n == g.TUN:
			ch.errf("gateway.ingress", "%q names the gateway's own TUN; the responses arrive on another interface", g.Ingress)
		default:
			ch.ifName("gateway.ingress", n)
		}
		seen[n] = true
	}
}

// FromFile reports whether packets come from a pcap file, not a live
// interface.
func (p *Copy) FromFile() bool { return p.Source != "" && p.Source != DefaultSource }

func (p *Copy) check(ch *checker, dir string, gw *Gateway) {
	appliance := gw != nil

	switch _, statErr := os.Stat(p.Source); {
	case p.Source == "":
		ch.errf("copy.source", "empty: write \"live\" or a pcap file path")
	case p.FromFile() && statErr != nil && strings.EqualFold(p.Source, DefaultSource):
		ch.errf("copy.source", "%q is neither \"live\" nor a pcap file; did you mean \"live\"? (values are case-sensitive)", p.Source)
	case p.FromFile():
		if statErr != nil {
			ch.warnf("copy.source", "pcap file: %v", statErr)
		}
		if p.Record != "" && filepath.Clean(p.Record) == filepath.Clean(p.Source) {
			ch.errf("copy.record", "%q is the source file; recording would overwrite it", p.Record)
		}
	}
	if !p.FromFile() || p.Interface != "" {
		ch.ifName("copy.interface", p.Interface)
	}
	if gw != nil && p.Interface != "" && p.Interface == gw.TUN {
		ch.errf("copy.interface", "%q is the gateway's TUN: capture on the interface the online traffic arrives on", p.Interface)
	}

	if len(p.Gateways) == 0 && !appliance && !p.FromFile() {
		ch.errf("copy.gateways", "missing: at least one gateway address (host:port) is required")
	}
	seen := map[string]int{}
	for i, s := range p.Gateways {
		key := fmt.Sprintf("copy.gateways[%d]", i)
		if !ch.hostPort(key, s, false) {
			continue
		}
		if j, ok := seen[s]; ok {
			ch.errf(key, "%q is listed twice (also copy.gateways[%d])", s, j)
		}
		seen[s] = i
	}
	p.Secret = ch.secret("copy", p.Token, p.TokenFile, dir, len(p.Gateways) > 0)
	ch.tokenStrength("copy", p.Token, p.Secret)
	if p.Secret == "" && appliance && p.Token == "" && p.TokenFile == "" {
		p.Secret = gw.Secret // responses are handed over in-process
	}

	ch.intRange("copy.copies", p.Copies, 1, MaxCopies)
	if !(p.SamplePercent > 0 && p.SamplePercent <= 100) {
		ch.errf("copy.sample_percent", "%v is outside (0, 100]", p.SamplePercent)
	}

	p.checkRoutes(ch)
	p.checkProtocols(ch, dir)
	p.checkClientPool(ch, gw)
	p.checkRouteTargets(ch, gw)
	if p.Copies > 1 && p.Copies <= MaxCopies && p.ClientPool == "" {
		ch.errf("copy.copies", "%d copies need a client_pool: without one every copy of a session would use the client's own address and 4-tuple", p.Copies)
	}

	ch.oneOf("copy.sender", p.Sender, "raw", "tun", "l2")
	switch {
	case p.Sender == "l2" && p.SendInterface == "":
		ch.errf("copy.send_interface", "missing: sender = \"l2\" needs send_interface")
	case p.Sender == "tun" && p.SendInterface == "":
		ch.errf("copy.send_interface", "missing: sender = \"tun\" needs send_interface (the TUN name)")
	case gw != nil && p.Sender == "tun" && p.SendInterface == gw.TUN:
		ch.errf("copy.send_interface", "%q is the gateway's own TUN: the sender needs a device of its own (default %q)", p.SendInterface, SenderTUN(gw.TUN))
	case p.SendInterface != "":
		ch.ifName("copy.send_interface", p.SendInterface)
	}
	switch {
	case p.Sender == "tun":
		ch.tunName("copy.send_interface", p.SendInterface)
	case p.Sender == "raw" && p.SendInterface != "" && ch.isDefined("copy.send_interface"):
		ch.warnf("copy.send_interface", "ignored with sender = \"raw\" (the kernel's routes pick the interface)")
	}
	if p.NextHopMAC != "" {
		if hw, err := net.ParseMAC(p.NextHopMAC); err != nil || len(hw) != 6 {
			ch.errf("copy.next_hop_mac", "%q is not a MAC address (e.g. \"02:42:ac:11:00:02\")", p.NextHopMAC)
		} else if p.Sender != "l2" {
			ch.warnf("copy.next_hop_mac", "ignored unless sender = \"l2\"")
		}
	}

	if p.Workers != 0 || (ch.defined != nil && ch.defined("copy", "workers")) {
		ch.intRange("copy.workers", p.Workers, 1, 4096) // absent: automatic
	}
	ch.intRange("copy.capture_ring_mb", p.CaptureRingMB, MinCaptureRingMB, MaxCaptureRingMB)
	if p.MemoryLimit <= 0 {
		ch.errf("copy.memory_limit", "%s must be greater than 0", p.MemoryLimit)
	}
	if p.SessionBuffer <= 0 {
		ch.errf("copy.session_buffer", "%s must be greater than 0", p.SessionBuffer)
	} else if p.MemoryLimit > 0 && p.SessionBuffer > p.MemoryLimit {
		ch.errf("copy.session_buffer", "%s is larger than memory_limit (%s)", p.SessionBuffer, p.MemoryLimit)
	}
	if p.MaxSessions < 0 {
		ch.errf("copy.max_sessions", "%d is negative", p.MaxSessions)
	} else {
		ch.intRange("copy.max_sessions", p.MaxSessions, 1, MaxMaxSessions)
	}
	if p.MemoryLimit > MaxMemoryLimit {
		ch.errf("copy.memory_limit", "%s is more than %s", p.MemoryLimit, MaxMemoryLimit)
	}
	if p.RateLimit < 0 {
		ch.errf("copy.rate_limit", "%d is negative (0 means unlimited)", p.RateLimit)
	} else {
		ch.intRange("copy.rate_limit", p.RateLimit, 0, MaxRateLimit)
	}
	ch.duration("copy.idle_timeout", p.IdleTimeout, 24*time.Hour)
	ch.duration("copy.gap_timeout", p.GapTimeout, 10*time.Minute)
	ch.duration("copy.syn_timeout", p.SynTimeout, 10*time.Minute)
	if p.TimeWait.Duration < 0 {
		ch.errf("copy.time_wait", "%s is negative", p.TimeWait)
	} else if p.TimeWait.Duration > time.Hour {
		ch.errf("copy.time_wait", "%s is more than 1h", p.TimeWait)
	}
	ch.intRange("copy.mss", p.MSS, 88, 65495)
	ch.intRange("copy.payload_bytes", p.PayloadBytes, 0, MaxPayloadCap)
	if appliance && gw.PayloadCap >= 0 && p.PayloadBytes > gw.PayloadCap && p.PayloadBytes <= MaxPayloadCap {
		ch.errf("copy.payload_bytes", "%d is more than gateway.payload_cap (%d)", p.PayloadBytes, gw.PayloadCap)
	}
	if p.LedgerMaxSize <= 0 {
		ch.errf("copy.ledger_max_size", "%s must be greater than 0", p.LedgerMaxSize)
	} else if p.LedgerMaxSize < MinLedgerMaxSize {
		ch.errf("copy.ledger_max_size", "%s is less than %s: the ledger would rotate at nearly every line", p.LedgerMaxSize, MinLedgerMaxSize)
	}
}

// checkRoutes parses the routes: addr:port each, one family per route,
// no online service listed twice.
func (p *Copy) checkRoutes(ch *checker) {
	if len(p.Routes) == 0 {
		ch.errf("copy.route", "missing: at least one [[copy.route]] with from and to is required")
	}
	from := map[netip.AddrPort]int{}
	for i := range p.Routes {
		r := &p.Routes[i]
		key := fmt.Sprintf("copy.route[%d]", i)
		f, okF := ch.addrPort(key+".from", r.From)
		t, okT := ch.addrPort(key+".to", r.To)
		r.FromAddr, r.ToAddr = f, t
		if okF {
			ch.routeAddr(key+".from", f, r.AllowLocal)
		}
		if okT {
			ch.routeAddr(key+".to", t, r.AllowLocal)
		}
		if okF {
			if j, dup := from[f]; dup {
				ch.errf(key+".from", "%s is already replayed by copy.route[%d]", f, j)
			}
			from[f] = i
		}
		if okF && okT && f.Addr().Is4() != t.Addr().Is4() {
			ch.errf(key+".to", "%s is %s but from %s is %s; a route cannot change address family",
				t, family(t.Addr()), f, family(f.Addr()))
		}
	}
}

// checkClientPool parses client_pool: the targets' family; big enough for
// the copies; inside the gateway's pools in appliance mode.
func (p *Copy) checkClientPool(ch *checker, gw *Gateway) {
	p.ClientPrefix = netip.Prefix{}
	if p.ClientPool == "" {
		if gw != nil {
			ch.warnf("copy.client_pool", "empty: client addresses are kept, so only clients inside gateway.pools get their responses absorbed")
		}
		return
	}
	cp, ok := ch.prefix("copy.client_pool", p.ClientPool)
	if !ok || !ch.checkPoolRange("copy.client_pool", cp) {
		return
	}
	p.ClientPrefix = cp
	for i, r := range p.Routes {
		if r.ToAddr.IsValid() && r.ToAddr.Addr().Is4() != cp.Addr().Is4() {
			ch.errf("copy.client_pool", "%s is %s but copy.route[%d].to %s is %s",
				cp, family(cp.Addr()), i, r.ToAddr, family(r.ToAddr.Addr()))
		}
	}
	if n := prefixSize(cp, math.MaxUint64); p.Copies > 0 && n < uint64(p.Copies) {
		ch.warnf("copy.client_pool", "%s has %d addresses, fewer than copies (%d): copies of one client will share addresses", cp, n, p.Copies)
	}
	if gw != nil && len(gw.PoolPrefixes) > 0 {
		if !insideAny(cp, gw.PoolPrefixes) {
			ch.errf("copy.client_pool", "%s is not inside gateway.pools (%s): the target's responses would not reach the TUN",
				cp, joinPrefixes(gw.PoolPrefixes))
		}
	}
}

// insideAny reports whether p lies wholly inside one of pools.
func insideAny(p netip.Prefix, pools []netip.Prefix) bool {
	for _, q := range pools {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// checkForeignPools warns, for the copier of a file that also has a
// [gateway] section, when client_pool lies outside that section's pools:
// the copier does not run the gateway, but the file says both.
func (p *Copy) checkForeignPools(ch *checker, gw *Gateway) {
	if gw == nil || !p.ClientPrefix.IsValid() {
		return
	}
	var pools []netip.Prefix
	for _, s := range gw.Pools {
		if q, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
			pools = append(pools, q)
		}
	}
	if len(pools) > 0 && !insideAny(p.ClientPrefix, pools) {
		ch.warnf("copy.client_pool", "%s is not inside the pools of this file's [gateway] (%s): unless the gateway runs with other pools, the target's responses will not reach it",
			p.ClientPrefix, joinPrefixes(pools))
	}
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
