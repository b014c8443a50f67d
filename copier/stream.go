package copier

import "gvisor.dev/gvisor/pkg/tcpip/seqnum"

// The per-session byte stream buffer: captured client segments kept in
// sequence order, trimmed of duplicates, until the target acks them.
// Super-packets are stored whole and cut to the target's MSS when sent.

// seg is one captured client segment (payload plus FIN/RST).
type seg struct {
	seq  seqnum.Value // sequence number of the first payload byte
	n    seqnum.Size  // payload length
	ack  seqnum.Value // the online ack number it carried
	fin  bool         // FIN after the payload
	rst  bool         // RST after the payload
	data []byte       // payload, aliases buf
	buf  *pbuf
	// split reports whether the segment was already counted as cut up.
	split bool
	// req: the session's protocol found a request starting here.
	req bool
}

// end is the sequence number after the payload (FIN/RST not included).
func (g *seg) end() seqnum.Value { return g.seq.Add(g.n) }

// captured is a session's buffer of the captured client stream: the live
// segments segs[head:] and where the contiguous data ends.
type captured struct {
	segs     []seg
	head     int
	buffered int64        // payload bytes held
	nxt      seqnum.Value // end of the contiguous captured data
	ctlSeen  bool         // a FIN or RST is contiguous
	ctlSeq   seqnum.Value // where it sits
	ctlRST   bool
	ctlGate  bool // its pacing gate was passed
}

// insertResult says what insert did with a segment.
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
func (s *captured) live() []seg { return s.segs[s.head:] }

// insert stores g (taking a reference on its buffer when kept) in
// sequence order, trimming bytes already held, and advances capNxt over
// contiguous data. It returns the payload bytes it kept.
func (s *captured) insert(g seg) (insertResult, int) {
	ctl := g.fin || g.rst
	// Trim bytes below capNxt (already captured).
	if g.seq.LessThan(s.nxt) {
		cut := g.seq.Size(s.nxt)
		if cut >= g.n {
			if !ctl || s.ctlSeen {
				return insDup, 0
			}
			// A FIN/RST whose bytes are all old: keep the control, at
			// the end of the captured data.
			g.seq, g.n, g.data = s.nxt, 0, nil
		} else {
			g.seq.UpdateForward(cut)
			g.n -= cut
			g.data = g.data[cut:]
		}
	}
	res, kept := insDup, 0
	for {
		live := s.live()
		// Find the insert position (in-order appends are the common case).
		i := len(live)
		for i > 0 && g.seq.LessThan(live[i-1].seq) {
			i--
		}
		if i > 0 {
			p := &live[i-1]
			if g.seq.LessThan(p.end()) || (g.seq == p.seq && g.n == 0 && p.n == 0) {
				cut := g.seq.Size(p.end())
				if cut >= g.n && (!ctl || p.fin || p.rst) {
					break
				}
				if cut > g.n {
					cut = g.n
				}
				g.seq.UpdateForward(cut)
				g.n -= cut
				g.data = g.data[cut:]
			}
		}
		var rest seg // the part beyond the next stored segment, if any
		more := false
		if i < len(live) && live[i].seq.LessThan(g.end()) {
			nx := &live[i]
			if nx.end().LessThan(g.end()) || ((g.fin || g.rst) && g.end() == nx.end() && !nx.fin && !nx.rst) {
				skip := g.seq.Size(nx.end())
				rest = g
				rest.seq.UpdateForward(skip)
				rest.n -= skip
				rest.data = rest.data[skip:]
				more = true
			}
			g.n = g.seq.Size(nx.seq)
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
func (s *captured) insertAt(i int, g seg) insertResult {
	g.buf.ref()
	s.segs = append(s.segs, seg{})
	live := s.live()
	copy(live[i+1:], live[i:])
	live[i] = g
	s.buffered += int64(g.n)
	if g.seq != s.nxt {
		return insOutOrder
	}
	for j := i; j < len(live); j++ {
		sg := &live[j]
		if s.nxt.LessThan(sg.seq) {
			break
		}
		if s.nxt.LessThan(sg.end()) {
			s.nxt = sg.end()
		}
		if sg.fin || sg.rst {
			s.ctlSeen = true
			s.ctlSeq = sg.end()
			s.ctlRST = sg.rst
			s.nxt = sg.end()
		}
	}
	return insInOrder
}

// hasGap reports whether a stored segment lies beyond a hole.
func (s *captured) hasGap() bool {
	if len(s.segs) == s.head {
		return false
	}
	return s.nxt.LessThan(s.segs[len(s.segs)-1].seq)
}

// find returns the index in s.segs of the segment holding sequence
// number q (payload byte, or a zero-length control segment at q), or -1.
// Binary search: offsets from the first live segment are monotonic.
func (s *captured) find(q seqnum.Value) int {
	live := s.live()
	if len(live) == 0 {
		return -1
	}
	base := live[0].seq
	if q.LessThan(base) {
		return -1
	}
	off := base.Size(q)
	// First segment starting after q.
	lo, hi := 0, len(live)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if base.Size(live[m].seq) > off {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return -1
	}
	g := &live[lo-1]
	if q.LessThan(g.end()) || (g.n == 0 && g.seq == q) {
		return s.head + lo - 1
	}
	return -1
}

// freeAcked drops segments wholly below una. It returns the bytes freed.
func (s *captured) freeAcked(una seqnum.Value) int64 {
	var freed int64
	for s.head < len(s.segs) {
		g := &s.segs[s.head]
		if una.LessThan(g.end()) || ((g.fin || g.rst) && g.end() == una) {
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
func (s *captured) freeAll() int64 {
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
