package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
	"github.com/replaygw/replaygw/pkt"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// tcpPacket builds an IPv4 or IPv6 TCP packet. ipOpts adds IPv4 option
// bytes (a multiple of 4).
func tcpPacket(src, dst netip.AddrPort, payload string, ipOpts int) []byte {
	s := pkt.Segment{Src: src, Dst: dst, Seq: 1000, Flags: header.TCPFlagPsh | header.TCPFlagAck, Window: 65535, Payload: []byte(payload)}
	b := make([]byte, s.Size())
	if _, err := pkt.Build(b, &s); err != nil {
		panic(err)
	}
	if ipOpts == 0 {
		return b
	}
	out := append(append(b[:20:20], bytes.Repeat([]byte{1}, ipOpts)...), b[20:]...) // NOP options
	ip := header.IPv4(out)
	ip.SetHeaderLength(uint8(20 + ipOpts))
	ip.SetTotalLength(uint16(len(out)))
	ip.SetChecksum(0)
	ip.SetChecksum(^ip.CalculateChecksum())
	return out
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
