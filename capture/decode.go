package capture

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"github.com/replaygw/replaygw/pkt"
)

// Link types beyond the ones gopacket names: DLT_RAW as some systems number
// it in files (12 on most BSDs, 14 on OpenBSD).
const (
	LinkTypeRawBSD     layers.LinkType = 12
	LinkTypeRawOpenBSD layers.LinkType = 14
)

// ErrMalformed marks a frame or IP header that does not parse (the IP
// header errors are pkt's, listing the field that is wrong); ErrNotIP a
// well-formed frame that carries something other than IPv4/IPv6 (ARP, LLDP…).
var (
	ErrMalformed = pkt.ErrMalformed
	ErrNotIP     = errors.New("not an IP packet")
)

// Static reasons, so the live path never allocates for a bad frame.
var (
	errShortL2      = fmt.Errorf("%w: frame shorter than its link-layer header", ErrMalformed)
	errFamily       = fmt.Errorf("%w: loopback address family does not match the IP version", ErrMalformed)
	errUnsupportedL = errors.New("unsupported link type")
)

// supportedLinkType reports whether StripLinkLayer understands lt.
func supportedLinkType(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeRaw, LinkTypeRawBSD, LinkTypeRawOpenBSD,
		layers.LinkTypeIPv4, layers.LinkTypeIPv6, layers.LinkTypeLinuxSLL,
		layers.LinkTypeLinuxSLL2, layers.LinkTypeNull, layers.LinkTypeLoop:
		return true
	}
	return false
}

// StripLinkLayer returns the IP packet inside frame, cut to the length its
// IP header announces (Ethernet padding goes away). It does not allocate.
// Errors wrap ErrNotIP or ErrMalformed.
func StripLinkLayer(lt layers.LinkType, frame []byte) ([]byte, error) {
	var ip pkt.IP
	return stripLinkLayer(lt, frame, &ip)
}

// stripLinkLayer is StripLinkLayer that also fills ip with the IP header
// it checked, for the live path's matcher.
func stripLinkLayer(lt layers.LinkType, frame []byte, ip *pkt.IP) ([]byte, error) {
	var proto uint16 // ethertype, 0 = look at the IP version nibble
	switch lt {
	case layers.LinkTypeEthernet:
		if len(frame) < 14 {
			return nil, errShortL2
		}
		proto = binary.BigEndian.Uint16(frame[12:14])
		frame = frame[14:]
		for i := 0; i < 2 && isVLAN(proto); i++ { // 802.1Q, and QinQ
			if len(frame) < 4 {
				return nil, errShortL2
			}
			proto = binary.BigEndian.Uint16(frame[2:4])
			frame = frame[4:]
		}
	case layers.LinkTypeRaw, LinkTypeRawBSD, LinkTypeRawOpenBSD:
	case layers.LinkTypeIPv4:
		proto = 0x0800
	case layers.LinkTypeIPv6:
		proto = 0x86dd
	case layers.LinkTypeLinuxSLL:
		if len(frame) < 16 {
			return nil, errShortL2
		}
		proto = binary.BigEndian.Uint16(frame[14:16])
		frame = frame[16:]
	case layers.LinkTypeLinuxSLL2:
		if len(frame) < 20 {
			return nil, errShortL2
		}
		proto = binary.BigEndian.Uint16(frame[0:2])
		frame = frame[20:]
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(frame) < 4 {
			return nil, errShortL2
		}
		// The family is in the capturing host's byte order for NULL and in
		// network order for LOOP; accept either.
		fam := binary.BigEndian.Uint32(frame[:4])
		if fam > 0xffff {
			fam = binary.LittleEndian.Uint32(frame[:4])
		}
		frame = frame[4:]
		switch fam {
		case 2:
			proto = 0x0800
		case 10, 23, 24, 28, 30: // AF_INET6 on Linux, Windows, BSDs, FreeBSD, macOS
			proto = 0x86dd
		default:
			return nil, ErrNotIP
		}
	default:
		return nil, errUnsupportedL
	}
	switch proto {
	case 0:
	case 0x0800, 0x86dd:
		if len(frame) > 0 && (frame[0]>>4 == 4) != (proto == 0x0800) {
			return nil, errFamily
		}
	default:
		return nil, ErrNotIP
	}
	return trimIP(frame, ip)
}

func isVLAN(ethertype uint16) bool {
	return ethertype == 0x8100 || ethertype == 0x88a8 || ethertype == 0x9100
}

// trimIP checks the IP header into ip and cuts b to the packet's own
// length. Length 0 in the header (GRO/BIG TCP super-packets, IPv6
// jumbograms) keeps all captured bytes.
func trimIP(b []byte, ip *pkt.IP) ([]byte, error) {
	if err := pkt.ParseIP(b, ip); err != nil {
		return nil, err
	}
	return b[:ip.End], nil
}
