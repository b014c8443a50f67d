package capture

import (
	"net/netip"

	"github.com/replaygw/replaygw/pkt"
)

// matcher is the kernel filter's test done again in Go, for the packets that
// reach a socket before its filter is attached.
type matcher struct {
	dst []netip.AddrPort // port 0: any port of the address
	src []netip.AddrPort // services whose answers are captured
}

func newMatcher(f Filter) matcher {
	var m matcher
	for _, d := range f.Dst {
		if a := d.Addr().Unmap(); a.IsValid() {
			m.dst = append(m.dst, netip.AddrPortFrom(a, d.Port()))
		}
	}
	for _, d := range f.Src {
		if a := d.Addr().Unmap(); a.IsValid() {
			m.src = append(m.src, netip.AddrPortFrom(a, d.Port()))
		}
	}
	return m
}

// ok reports whether the IP packet b, whose header trimIP checked into ip,
// is TCP to one of the services (or from one whose answers are captured):
// a whole segment or a first fragment, like the kernel filter.
func (m *matcher) ok(b []byte, ip *pkt.IP) bool {
	sport, dport, ok := pkt.Ports(b, ip)
	if !ok {
		return false
	}
	return matches(m.dst, ip.Dst, dport) || matches(m.src, ip.Src, sport)
}

// matches reports whether addr:port is one of set (port 0: any port).
func matches(set []netip.AddrPort, addr netip.Addr, port uint16) bool {
	for _, d := range set {
		if addr == d.Addr() && (d.Port() == 0 || d.Port() == port) {
			return true
		}
	}
	return false
}
