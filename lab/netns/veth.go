package netns

import (
	"strings"
)

// End is one end of a veth: the namespace it lives in, its interface name
// (at most 15 bytes), its MAC address (the kernel's random one when empty)
// and its addresses in CIDR form.
type End struct {
	NS, Dev, MAC string
	Addrs        []string
}

// Veth joins namespaces a.NS and b.NS with a veth, gives each end its MAC
// and addresses (IPv6 ones without duplicate address detection) and brings
// up both ends and both namespaces' loopback. The veth is created inside
// a.NS, never in the root namespace, and goes away with the namespaces.
func Veth(t TB, a, b End) {
	t.Helper()
	Sh(t, "ip", "-n", a.NS, "link", "add", a.Dev, "type", "veth", "peer", "name", b.Dev, "netns", b.NS)
	for _, e := range []End{a, b} {
		Sh(t, "ip", "-n", e.NS, "link", "set", "lo", "up")
		if e.MAC != "" {
			Sh(t, "ip", "-n", e.NS, "link", "set", e.Dev, "address", e.MAC)
		}
		for _, addr := range e.Addrs {
			cmd := []string{"ip", "-n", e.NS, "addr", "add", addr, "dev", e.Dev}
			if strings.Contains(addr, ":") {
				cmd = append(cmd, "nodad")
			}
			Sh(t, cmd...)
		}
		Sh(t, "ip", "-n", e.NS, "link", "set", e.Dev, "up")
	}
}
