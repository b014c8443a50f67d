package doctor

import (
	"testing"

	"github.com/replaygw/replaygw/lab/netns"
)

// The test lab: three hosts (online, target, gateway) on one bridge, each
// in its own namespace named netns.Unique("rgD")-<host>; nothing
// touches the root namespace.
const (
	labPrefix = "rgD"
	labPool   = "10.88.0.0/24"
	onlineIP  = "10.99.0.20"
	targetIP  = "10.99.0.30"
	gwIP      = "10.99.0.40"
	gwCtl     = gwIP + ":36524"
	tunName   = "rgw0"

	labPool6 = "fd88::/64"
	online6  = "fd99::20"
	target6  = "fd99::30"
	gw6      = "fd99::40"
)

type lab struct {
	name string
}

func (l *lab) ns(h string) string { return l.name + "-" + h }

// newLab builds the topology and registers its removal.
func newLab(t *testing.T) *lab {
	t.Helper()
	netns.RequireRoot(t)
	netns.RemoveStale(labPrefix)
	l := &lab{name: netns.Unique(labPrefix)}
	hosts := map[string]string{"on": onlineIP, "tg": targetIP, "gw": gwIP}
	hosts6 := map[string]string{"on": online6, "tg": target6, "gw": gw6}
	for _, h := range []string{"sw", "on", "tg", "gw"} {
		netns.Add(t, l.ns(h))
		// No duplicate address detection: addresses (link-local ones too)
		// are usable at once, so neighbour discovery works immediately.
		l.sysctl(t, h, "net.ipv6.conf.default.accept_dad", "0")
		l.sysctl(t, h, "net.ipv6.conf.all.accept_dad", "0")
	}
	l.run(t, "sw", "ip", "link", "set", "lo", "up")
	l.run(t, "sw", "ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	l.run(t, "sw", "ip", "link", "set", "br0", "up")
	for _, h := range []string{"on", "tg", "gw"} {
		port := "p-" + h
		l.run(t, "sw", "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", l.ns(h))
		l.run(t, "sw", "ip", "link", "set", port, "master", "br0", "up")
		l.run(t, h, "ip", "link", "set", "lo", "up")
		l.run(t, h, "ip", "link", "set", "eth0", "up")
		l.run(t, h, "ip", "addr", "add", hosts[h]+"/24", "dev", "eth0")
		l.run(t, h, "ip", "addr", "add", hosts6[h]+"/64", "dev", "eth0", "nodad")
		for _, dev := range []string{"all", "default", "eth0"} {
			l.sysctl(t, h, "net.ipv4.conf."+dev+".rp_filter", "0")
		}
	}
	l.run(t, "tg", "ip", "route", "add", labPool, "via", gwIP)
	l.run(t, "tg", "ip", "-6", "route", "add", labPool6, "via", gw6)
	return l
}

// run runs a command in host's namespace.
func (l *lab) run(t *testing.T, host string, args ...string) string {
	t.Helper()
	return netns.Exec(t, l.ns(host), args...)
}

// sysctl sets key (sysctl(8) form) in host's namespace.
func (l *lab) sysctl(t *testing.T, host, key, val string) {
	t.Helper()
	netns.SetSysctl(t, l.ns(host), key, val)
}

// in runs fn inside host's namespace (see netns.InNS).
func (l *lab) in(t *testing.T, host string, fn func()) {
	t.Helper()
	netns.InNS(t, l.ns(host), func() error { fn(); return nil })
}

// installRedirect adds the tc ingress redirect on the gateway by hand.
func (l *lab) installRedirect(t *testing.T) {
	l.run(t, "gw", "tc", "qdisc", "add", "dev", "eth0", "clsact")
	l.run(t, "gw", "tc", "filter", "add", "dev", "eth0", "ingress", "protocol", "ip", "u32",
		"match", "ip", "dst", labPool, "action", "mirred", "egress", "redirect", "dev", tunName)
}
