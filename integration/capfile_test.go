package integration

// Capture-file tools of the offline tests: read a recording, find the
// request ids in it, rewrite it under another link type and damage it.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/replaygw/replaygw/capture"
)

// capPacket is one IP packet of a capture and its time.
type capPacket struct {
	ts time.Time
	ip []byte
}

// readIPCapture returns every IP packet of a capture file (any format the
// product reads).
func readIPCapture(path string) ([]capPacket, error) {
	f, err := capture.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []capPacket
	for {
		ip, ts, err := f.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, capPacket{ts: ts, ip: bytes.Clone(ip)})
	}
}

// tcpOf returns the ports and the payload of an IPv4 or IPv6 TCP packet.
func tcpOf(ip []byte) (src, dst uint16, payload []byte, ok bool) {
	if len(ip) < 20 {
		return 0, 0, nil, false
	}
	var l4 []byte
	switch ip[0] >> 4 {
	case 4:
		ihl := int(ip[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(ip[2:4]))
		if ip[9] != 6 || ihl < 20 || tot > len(ip) || tot < ihl {
			return 0, 0, nil, false
		}
		l4 = ip[ihl:tot]
	case 6:
		if len(ip) < 40 || ip[6] != 6 {
			return 0, 0, nil, false
		}
		l4 = ip[40:]
	default:
		return 0, 0, nil, false
	}
	if len(l4) < 20 {
		return 0, 0, nil, false
	}
	off := int(l4[12]>>4) * 4
	if off < 20 || off > len(l4) {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4]), l4[off:], true
}

// requestID is the id of the HTTP request starting in payload ("GET
// /r/<id> ..."), or "".
func requestID(payload []byte) string {
	rest, ok := bytes.CutPrefix(payload, []byte("GET /r/"))
	if !ok {
		return ""
	}
	if i := bytes.IndexByte(rest, ' '); i > 0 {
		return string(rest[:i])
	}
	return ""
}

// capRequest is where a request with an id sits in a capture.
type capRequest struct {
	id     string
	index  int // packet index
	ts     time.Time
	client uint16 // client port: the session
}

// captureRequests lists the requests whose id has prefix, in capture order.
func captureRequests(pkts []capPacket, prefix string) []capRequest {
	var out []capRequest
	for i, p := range pkts {
		src, _, pl, ok := tcpOf(p.ip)
		if !ok {
			continue
		}
		if id := requestID(pl); id != "" && strings.HasPrefix(id, prefix) {
			out = append(out, capRequest{id: id, index: i, ts: p.ts, client: src})
		}
	}
	return out
}

// linkVariant turns a raw IP packet into a frame of one link type.
type linkVariant struct {
	name string
	lt   layers.LinkType
	l2   func(ip []byte) []byte // the header put before the packet
}

func ipEthertype(ip []byte) uint16 {
	if ip[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

var linkVariants = []linkVariant{
	{"ethernet", layers.LinkTypeEthernet, func(ip []byte) []byte {
		h := []byte{0x02, 0, 0, 0, 0, 0x30, 0x02, 0, 0, 0, 0, 0x20, 0, 0}
		binary.BigEndian.PutUint16(h[12:], ipEthertype(ip))
		return h
	}},
	{"raw", layers.LinkTypeRaw, func([]byte) []byte { return nil }},
	{"linux_sll", layers.LinkTypeLinuxSLL, func(ip []byte) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 0) // to us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], []byte{0x02, 0, 0, 0, 0, 0x10})
		binary.BigEndian.PutUint16(h[14:], ipEthertype(ip))
		return h
	}},
	{"linux_sll2", layers.LinkTypeLinuxSLL2, func(ip []byte) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], ipEthertype(ip))
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[10], h[11] = 0, 6
		copy(h[12:], []byte{0x02, 0, 0, 0, 0, 0x10})
		return h
	}},
	{"null", layers.LinkTypeNull, func(ip []byte) []byte {
		h := make([]byte, 4)
		fam := uint32(2)
		if ip[0]>>4 == 6 {
			fam = 10
		}
		binary.LittleEndian.PutUint32(h, fam) // host order of the capturing (x86) host
		return h
	}},
	{"loop", layers.LinkTypeLoop, func(ip []byte) []byte {
		h := make([]byte, 4)
		fam := uint32(2)
		if ip[0]>>4 == 6 {
			fam = 10
		}
		binary.BigEndian.PutUint32(h, fam)
		return h
	}},
}

// writePcap writes pkts as a pcap file of variant v and returns the byte
// offset of every record.
func writePcap(path string, v linkVariant, pkts []capPacket) ([]int64, error) {
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(65535, v.lt); err != nil {
		return nil, err
	}
	offs := make([]int64, 0, len(pkts))
	for _, p := range pkts {
		offs = append(offs, int64(buf.Len()))
		frame := append(v.l2(p.ip), p.ip...)
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(frame), Length: len(frame)}
		if err := w.WritePacket(ci, frame); err != nil {
			return nil, err
		}
	}
	return offs, os.WriteFile(path, buf.Bytes(), 0o600)
}

// gzipFile writes a gzip copy of src to dst.
func gzipFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gzip %s: %w", src, err)
	}
	return os.WriteFile(dst, out.Bytes(), 0o600)
}
