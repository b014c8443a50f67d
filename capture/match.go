package capture

import (
	"net/netip"

	"github.com/replaygw/replaygw/pkt"
)

// matcher is the kernel filter's test done again in Go, for the packets that
// reach a socket before its filter is attached.
type matcher struct {
	dst []netip.AddrPort // port 0: any port of the address
}

func newMatcher(f Filter) matcher {
	var m matcher
	for _, d := range f.Dst {
		if a := d.Addr().Unmap(); a.IsValid() {
			m.dst = append(m.dst, netip.AddrPortFrom(a, d.Port()))
		}
	}
	return m
}

// ok reports whether the IP packet b, whose header trimIP checked into ip,
// is TCP to one of the services: a whole segment or a first fragment, like
// the kernel filter.
func (m *matcher) ok(b []byte, ip *pkt.IP) bool {
	_, port, ok := pkt.Ports(b, ip)
	if !ok {
		return false
	}
	for _, d := range m.dst {
		if ip.Dst == d.Addr() && (d.Port() == 0 || d.Port() == port) {
			return true
		}
	}
	return false
}
