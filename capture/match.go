package capture

import "encoding/binary"

// matcher is the kernel filter's test done again in Go, for the packets that
// reach a socket before its filter is attached.
type matcher struct {
	v4 []dst4
	v6 []dst6
}

type dst4 struct {
	addr [4]byte
	port uint16
}

type dst6 struct {
	addr [16]byte
	port uint16
}

func newMatcher(f Filter) matcher {
	var m matcher
	for _, d := range f.Dst {
		a := d.Addr().Unmap()
		if a.Is4() {
			m.v4 = append(m.v4, dst4{a.As4(), d.Port()})
		} else if a.Is6() {
			m.v6 = append(m.v6, dst6{a.As16(), d.Port()})
		}
	}
	return m
}

// ok reports whether the IP packet (already checked by trimIP) is TCP to one
// of the services.
func (m *matcher) ok(ip []byte) bool {
	switch ip[0] >> 4 {
	case 4:
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 6 || binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 || len(ip) < ihl+4 {
			return false
		}
		port := binary.BigEndian.Uint16(ip[ihl+2:])
		for _, d := range m.v4 {
			if [4]byte(ip[16:20]) == d.addr && (d.port == 0 || d.port == port) {
				return true
			}
		}
	case 6:
		if ip[6] != 6 || len(ip) < 44 {
			return false
		}
		port := binary.BigEndian.Uint16(ip[42:])
		for _, d := range m.v6 {
			if [16]byte(ip[24:40]) == d.addr && (d.port == 0 || d.port == port) {
				return true
			}
		}
	}
	return false
}
