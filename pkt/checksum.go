package pkt

import (
	"encoding/binary"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Offsets of the checksums the rewrites patch.
const (
	ipv4ChecksumAt = 10
	tcpChecksumAt  = 16
)

// PatchChecksum updates the Internet checksum stored at b[0:2] for one
// 16-bit word of the data it covers changing from old to word (RFC 1624,
// eqn. 3: HC' = ~(~HC + ~m + m')).
func PatchChecksum(b []byte, old, word uint16) {
	if old == word {
		return
	}
	hc := binary.BigEndian.Uint16(b)
	binary.BigEndian.PutUint16(b, ^checksum.Combine(^hc, checksum.Combine(^old, word)))
}

// RewriteSrc sets the source address of the TCP packet b, whose network
// layer ip describes, to a (of the same family), patching the IPv4 header
// checksum and the TCP checksum (the address is in its pseudo-header).
// ip.Src becomes a. The packet may be a first fragment.
func RewriteSrc(b []byte, ip *IP, a netip.Addr) error {
	if err := rewriteAddr(b, ip, a, srcAt(ip)); err != nil {
		return err
	}
	ip.Src = a
	return nil
}

// RewriteDst is RewriteSrc for the destination address.
func RewriteDst(b []byte, ip *IP, a netip.Addr) error {
	if err := rewriteAddr(b, ip, a, dstAt(ip)); err != nil {
		return err
	}
	ip.Dst = a
	return nil
}

// RewriteSrcPort sets the TCP source port of b, patching the TCP checksum.
func RewriteSrcPort(b []byte, ip *IP, port uint16) error { return rewritePort(b, ip, port, 0) }

// RewriteDstPort sets the TCP destination port of b, patching the TCP
// checksum.
func RewriteDstPort(b []byte, ip *IP, port uint16) error { return rewritePort(b, ip, port, 2) }

// srcAt and dstAt are where the addresses are in the IP header.
func srcAt(ip *IP) int {
	if ip.V6 {
		return 8
	}
	return 12
}

func dstAt(ip *IP) int {
	if ip.V6 {
		return 24
	}
	return 16
}

// checkRewrite reports whether b holds the TCP checksum of the packet ip
// describes.
func checkRewrite(b []byte, ip *IP) error {
	switch {
	case ip.Protocol != header.TCPProtocolNumber:
		return ErrNotTCP
	case ip.FragmentOffset != 0:
		return ErrFragment
	case ip.End > len(b) || ip.End-ip.L4 < tcpChecksumAt+2:
		return ErrShortTCP
	}
	return nil
}

func rewriteAddr(b []byte, ip *IP, a netip.Addr, at int) error {
	if err := checkRewrite(b, ip); err != nil {
		return err
	}
	if a.Is4() == ip.V6 {
		return ErrFamily
	}
	var buf [16]byte
	if a.Is4() {
		a4 := a.As4()
		copy(buf[:], a4[:])
	} else {
		buf = a.As16()
	}
	n := 4
	if ip.V6 {
		n = 16
	}
	for i := 0; i < n; i += 2 {
		old := binary.BigEndian.Uint16(b[at+i:])
		word := binary.BigEndian.Uint16(buf[i:])
		binary.BigEndian.PutUint16(b[at+i:], word)
		PatchChecksum(b[ip.L4+tcpChecksumAt:], old, word)
		if !ip.V6 {
			PatchChecksum(b[ipv4ChecksumAt:], old, word)
		}
	}
	return nil
}

func rewritePort(b []byte, ip *IP, port uint16, at int) error {
	if err := checkRewrite(b, ip); err != nil {
		return err
	}
	at += ip.L4
	old := binary.BigEndian.Uint16(b[at:])
	binary.BigEndian.PutUint16(b[at:], port)
	PatchChecksum(b[ip.L4+tcpChecksumAt:], old, port)
	return nil
}

// ChecksumsValid reports whether the IPv4 header checksum (IPv6 has none)
// and the TCP checksum of b, which v was parsed from, are right. Parse
// does not check them; tests and probes do.
func (v *View) ChecksumsValid(b []byte) bool {
	if !v.V6 && !header.IPv4(b[:v.L4]).IsChecksumValid() {
		return false
	}
	seg := b[v.L4:v.End]
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, tcpipAddr(v.Src), tcpipAddr(v.Dst), uint16(len(seg)))
	return checksum.Checksum(seg, xsum) == 0xffff
}
