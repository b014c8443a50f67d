package copier

// The per-session byte stream buffer: captured client segments kept in
// sequence order, trimmed of duplicates, until the target acks them.
// Super-packets are stored whole and cut to the target's MSS when sent.

// seg is one captured client segment (payload plus FIN/RST).
type seg struct {
	seq  uint32 // sequence number of the first payload byte
	n    uint32 // payload length
	ack  uint32 // the online ack number it carried
	fin  bool   // FIN after the payload
	rst  bool   // RST after the payload
	data []byte // payload, aliases buf
	buf  *pbuf
	// split reports whether the segment was already counted as cut up.
	split bool
}

// end is the sequence number after the payload (FIN/RST not included).
func (g *seg) end() uint32 { return g.seq + g.n }

func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }

// insertResult says what insertSeg did with a segment.
type insertResult uint8

const (
	insDup      insertResult = iota // entirely old: dropped
	insInOrder                      // appended at capNxt
	insOutOrder                     // stored beyond a hole
)

// The buffer is s.segs[s.head:], sorted by seq and non-overlapping; acked
// segments are dropped by advancing head, and the array is compacted once
// the dead front outweighs the live part (amortised O(1), no allocation in
// steady state even with thousands of segments in flight).

// live returns the buffered segments.
func (s *session) live() []seg { return s.segs[s.head:] }

// insertSeg stores g (taking a reference on its buffer when kept) in
// sequence order, trimming bytes already held, and advances capNxt over
// contiguous data. It returns the payload bytes it kept.
func (s *session) insertSeg(g seg) (insertResult, int) {
	ctl := g.fin || g.rst
	// Trim bytes below capNxt (already captured).
	if seqLT(g.seq, s.capNxt) {
		cut := s.capNxt - g.seq
		if cut >= g.n {
			// A FIN before data already captured is not the client's
			// end of stream (no data follows a FIN): a stray, dropped.
			if !ctl || s.ctlSeen || (g.fin && g.end() != s.capNxt) {
				return insDup, 0
			}
			// An RST whose bytes are all old, or a FIN right at the end
			// of the captured data: keep the control there.
			g.seq, g.n, g.data = s.capNxt, 0, nil
		} else {
			g.seq += cut
			g.n -= cut
			g.data = g.data[cut:]
		}
	}
	res, kept := insDup, 0
	for {
		live := s.live()
		// Find the insert position (in-order appends are the common case).
		i := len(live)
		for i > 0 && seqGT(live[i-1].seq, g.seq) {
			i--
		}
		if i > 0 {
			p := &live[i-1]
			if seqLT(g.seq, p.end()) || (g.seq == p.seq && g.n == 0 && p.n == 0) {
				cut := p.end() - g.seq
				if cut >= g.n && (!ctl || p.fin || p.rst) {
					break
				}
				if cut > g.n {
					cut = g.n
				}
				g.seq += cut
				g.n -= cut
				g.data = g.data[cut:]
			}
		}
		var rest seg // the part beyond the next stored segment, if any
		more := false
		if i < len(live) && seqGT(g.end(), live[i].seq) {
			nx := &live[i]
			if seqGT(g.end(), nx.end()) || ((g.fin || g.rst) && g.end() == nx.end() && !nx.fin && !nx.rst) {
				skip := nx.end() - g.seq
				rest = g
				rest.seq += skip
				rest.n -= skip
				rest.data = rest.data[skip:]
				more = true
			}
			g.n = nx.seq - g.seq
			g.data = g.data[:g.n]
			g.fin, g.rst = false, false
		}
		if g.n > 0 || g.fin || g.rst {
			r := s.insertAt(i, g)
			if kept == 0 || r == insInOrder {
				res = r
			}
			kept += int(g.n)
		}
		if !more {
			break
		}
		g = rest
	}
	return res, kept
}

// insertAt stores g at live index i and advances capNxt if it closed the
// front hole.
func (s *session) insertAt(i int, g seg) insertResult {
	g.buf.ref()
	s.segs = append(s.segs, seg{})
	live := s.live()
	copy(live[i+1:], live[i:])
	live[i] = g
	s.buffered += int64(g.n)
	if g.seq != s.capNxt {
		return insOutOrder
	}
	for j := i; j < len(live); j++ {
		sg := &live[j]
		if seqGT(sg.seq, s.capNxt) {
			break
		}
		if seqGT(sg.end(), s.capNxt) {
			s.capNxt = sg.end()
		}
		if sg.fin || sg.rst {
			s.ctlSeen = true
			s.ctlSeq = sg.end()
			s.ctlRST = sg.rst
			s.capNxt = sg.end()
		}
	}
	return insInOrder
}

// hasGap reports whether a stored segment lies beyond a hole.
func (s *session) hasGap() bool {
	if len(s.segs) == s.head {
		return false
	}
	return seqGT(s.segs[len(s.segs)-1].seq, s.capNxt)
}

// findSeg returns the index in s.segs of the segment holding sequence
// number q (payload byte, or a zero-length control segment at q), or -1.
// Binary search: offsets from the first live segment are monotonic.
func (s *session) findSeg(q uint32) int {
	live := s.live()
	if len(live) == 0 {
		return -1
	}
	base := live[0].seq
	off := q - base
	if int32(off) < 0 {
		return -1
	}
	// First segment starting after q.
	lo, hi := 0, len(live)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if live[m].seq-base > off {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return -1
	}
	g := &live[lo-1]
	if seqLT(q, g.end()) || (g.n == 0 && g.seq == q) {
		return s.head + lo - 1
	}
	return -1
}

// freeAcked drops segments wholly below una. It returns the bytes freed.
func (s *session) freeAcked(una uint32) int64 {
	var freed int64
	for s.head < len(s.segs) {
		g := &s.segs[s.head]
		if seqGT(g.end(), una) || ((g.fin || g.rst) && g.end() == una) {
			break
		}
		freed += int64(g.n)
		g.buf.unref()
		*g = seg{}
		s.head++
	}
	if s.head == len(s.segs) {
		s.segs, s.head = s.segs[:0], 0
	} else if s.head >= 16 && s.head >= len(s.segs)-s.head {
		n := copy(s.segs, s.segs[s.head:])
		clear(s.segs[n:])
		s.segs, s.head = s.segs[:n], 0
	}
	s.buffered -= freed
	return freed
}

// freeAll releases every stored segment.
func (s *session) freeAll() int64 {
	var freed int64
	for i := s.head; i < len(s.segs); i++ {
		freed += int64(s.segs[i].n)
		s.segs[i].buf.unref()
	}
	clear(s.segs)
	s.segs, s.head = s.segs[:0], 0
	s.buffered = 0
	return freed
}
