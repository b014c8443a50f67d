package mysql

import "encoding/binary"

// MySQL packet framing: 3-byte little-endian payload length, 1-byte
// sequence id, payload. A payload of exactly maxPayload bytes is continued
// by the next packet (the 16 MB continuation).
const (
	headerLen  = 4
	maxPayload = 0xFFFFFF
)

// framer reassembles packets from a byte stream cut at arbitrary points.
// It holds at most one incomplete packet beyond what the caller leaves
// unconsumed, and remembers when the bytes it holds arrived: a packet held
// back (a command waiting for the target's login) keeps its capture time.
type framer struct {
	buf   []byte
	off   int
	pos   int64     // stream offset of buf[off]
	marks []arrival // arrival times of the held bytes, oldest first
}

// arrival: the bytes from stream offset from on arrived at at.
type arrival struct{ from, at int64 }

// pushAt appends stream bytes that arrived at at.
func (f *framer) pushAt(p []byte, at int64) {
	if len(p) == 0 {
		return
	}
	f.marks = append(f.marks, arrival{from: f.pos + int64(f.held()), at: at})
	f.push(p)
}

// at is when the next unconsumed byte arrived (0 if none was pushed
// with pushAt).
func (f *framer) at() int64 {
	if len(f.marks) == 0 {
		return 0
	}
	return f.marks[0].at
}

// push appends stream bytes.
func (f *framer) push(p []byte) {
	if f.off > 0 && f.off == len(f.buf) {
		f.buf, f.off = f.buf[:0], 0
	} else if f.off > 4096 && f.off > len(f.buf)/2 {
		n := copy(f.buf, f.buf[f.off:])
		f.buf, f.off = f.buf[:n], 0
	}
	f.buf = append(f.buf, p...)
}

// peek returns the next complete packet (header included) without
// consuming it.
func (f *framer) peek() (raw []byte, ok bool) {
	b := f.buf[f.off:]
	if len(b) < headerLen {
		return nil, false
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if len(b) < headerLen+n {
		return nil, false
	}
	return b[:headerLen+n], true
}

// next consumes the packet returned by peek.
func (f *framer) next(raw []byte) {
	f.off += len(raw)
	f.pos += int64(len(raw))
	i := 0
	for i+1 < len(f.marks) && f.marks[i+1].from <= f.pos {
		i++
	}
	if f.held() == 0 {
		i = len(f.marks)
	}
	if i > 0 {
		n := copy(f.marks, f.marks[i:]) // a few marks: keeps the array
		f.marks = f.marks[:n]
	}
}

// held is the number of bytes buffered and not consumed.
func (f *framer) held() int { return len(f.buf) - f.off }

func pktSeq(raw []byte) byte       { return raw[3] }
func pktPayload(raw []byte) []byte { return raw[headerLen:] }
func pktFull(raw []byte) bool      { return len(raw)-headerLen == maxPayload }

// appendPacket appends one packet (payload < 16 MB) to out.
func appendPacket(out []byte, seq byte, payload []byte) []byte {
	n := len(payload)
	out = append(out, byte(n), byte(n>>8), byte(n>>16), seq)
	return append(out, payload...)
}

// Length-encoded integers and strings.

func appendLenenc(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return append(b, 0xFC, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(b, 0xFD, byte(v), byte(v>>8), byte(v>>16))
	}
	b = append(b, 0xFE)
	return binary.LittleEndian.AppendUint64(b, v)
}

// readLenenc returns the value, the bytes used, and false if b is too short
// or starts with a non-integer marker (0xFB NULL, 0xFF).
func readLenenc(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 251:
		return uint64(c), 1, true
	case c == 0xFC && len(b) >= 3:
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case c == 0xFD && len(b) >= 4:
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case c == 0xFE && len(b) >= 9:
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, false
}

// readNul returns the bytes before the next NUL and the bytes after it.
func readNul(b []byte) (s, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}
