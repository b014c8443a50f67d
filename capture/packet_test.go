package capture

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// tcpPacket builds an IPv4 or IPv6 TCP packet (checksums are not needed by
// the capture side). ipOpts adds IPv4 option bytes (a multiple of 4).
func tcpPacket(src, dst netip.AddrPort, payload string, ipOpts int) []byte {
	tcp := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	tcp[12] = 5 << 4
	tcp[13] = 0x18 // PSH|ACK
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], payload)
	if src.Addr().Is4() {
		hl := 20 + ipOpts
		ip := make([]byte, hl, hl+len(tcp))
		ip[0] = 0x40 | byte(hl/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(hl+len(tcp)))
		ip[6] = 0x40 // DF
		ip[8] = 64
		ip[9] = 6
		s, d := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		for i := 20; i < hl; i++ {
			ip[i] = 1 // NOP options
		}
		return append(ip, tcp...)
	}
	ip := make([]byte, 40, 40+len(tcp))
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)))
	ip[6] = 6
	ip[7] = 64
	s, d := src.Addr().As16(), dst.Addr().As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	return append(ip, tcp...)
}

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = []byte{0x02, 0, 0, 0, 0, 0x0b}
)

func etherType(ip []byte) uint16 {
	if ip[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

// ethernet wraps ip in an Ethernet header, with a VLAN tag when vlan > 0.
func ethernet(ip []byte, vlan int) []byte {
	f := append(append([]byte{}, macB...), macA...)
	if vlan > 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, uint16(vlan))
	}
	f = binary.BigEndian.AppendUint16(f, etherType(ip))
	return append(f, ip...)
}

// frame wraps ip for a file of link type lt.
func frame(lt layers.LinkType, ip []byte) []byte {
	var h []byte
	switch lt {
	case layers.LinkTypeEthernet:
		return ethernet(ip, 0)
	case layers.LinkTypeLinuxSLL:
		h = make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 0) // to us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], macA)
		binary.BigEndian.PutUint16(h[14:], etherType(ip))
	case layers.LinkTypeLinuxSLL2:
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], etherType(ip))
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		copy(h[12:], macA)
	case layers.LinkTypeNull: // host order of a little-endian capturer
		h = make([]byte, 4)
		fam := uint32(2)
		if ip[0]>>4 == 6 {
			fam = 30
		}
		binary.LittleEndian.PutUint32(h, fam)
	case layers.LinkTypeLoop:
		h = make([]byte, 4)
		fam := uint32(2)
		if ip[0]>>4 == 6 {
			fam = 24
		}
		binary.BigEndian.PutUint32(h, fam)
	}
	return append(h, ip...)
}

// arpFrame is a non-IP Ethernet frame.
func arpFrame() []byte {
	f := append(append([]byte{}, macB...), macA...)
	f = binary.BigEndian.AppendUint16(f, 0x0806)
	return append(f, make([]byte, 28)...)
}
