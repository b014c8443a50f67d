package copier

import "gvisor.dev/gvisor/pkg/tcpip/header"

// Sending the captured stream, paced like the real client.
//
// Request boundaries: a data segment whose online ack differs from the
// previous request's ack starts a new request (the client had received
// response bytes in between). A new request is held until the target has
// finished the previous response:
//   - at once when the target has sent at least as many bytes since the
//     previous request as the online server had (the ack difference), the
//     "acked-complete" case;
//   - when response data was seen and none came for 2 x the captured RTT
//     (at least 1 ms), the response-idle case;
//   - at the latest maxResponseWait after the previous request.
// Segments continuing a request (same ack) are sent at once.

// respIdle is how long the response must be quiet to count as done.
func (s *session) respIdle() int64 { return 2 * s.rtt() }

// paceRelease decides whether the new request starting with g may go.
func (w *worker) paceRelease(s *session, g *seg, now int64) bool {
	if w.e.cfg.NoPacing {
		return true
	}
	expected := g.ack - s.lastAck
	got := s.rcvNxt - s.respBase
	switch {
	case s.requests == 0 && int32(expected) <= 0:
		return true // the first request, and no greeting to wait for
	case int32(expected) > 0 && got >= expected:
		return true
	case got > 0 && s.lastRespAt != 0 && now-s.lastRespAt >= s.respIdle():
		return true
	case now-s.reqAt >= maxResponseWait:
		w.e.stats.PaceWaitExpired.Add(1)
		w.e.log.Debug("request released by the response wait cap", "tuple", s.tuple.String(),
			"expected", expected, "got", got, "requests", s.requests)
		return true
	}
	if !s.held {
		s.held = true
		w.e.stats.PaceHeld.Add(1)
	}
	at := s.reqAt + maxResponseWait
	if got > 0 && s.lastRespAt != 0 {
		at = min(at, s.lastRespAt+s.respIdle())
	}
	s.paceAt = at
	return false
}

// startRequest marks g as the start of a new request.
// A bare FIN or RST passes the gate the same way but is no request.
func (w *worker) startRequest(s *session, g *seg, now int64) {
	s.lastAck = g.ack
	s.held = false
	s.paceAt = 0
	if g.n == 0 {
		return
	}
	s.respBase = s.rcvNxt
	s.reqAt = now
	s.respFirst = false
	s.requests++
	w.e.stats.RequestsReleased.Add(1)
}

// pump sends whatever the pacing gate, the target's window and the
// captured stream allow, then the client's FIN or RST once all data
// before it is acked.
func (w *worker) pump(s *session, now int64) {
	if s.state != stEstablished || s.ended {
		return
	}
	for {
		i := s.findSeg(s.sndNxt)
		if i < 0 {
			break
		}
		g := &s.segs[i]
		if s.sndNxt == g.seq && !(s.gatePassed && s.gateSeq == g.seq) {
			boundary := s.haveLastAck && g.ack != s.lastAck
			if f := w.e.cfg.Boundary; f != nil && s.haveLastAck {
				boundary = f(s.lastAck, g.ack, g.data)
			}
			if !s.haveLastAck {
				s.lastAck, s.haveLastAck = g.ack, true
			}
			if boundary && !w.paceRelease(s, g, now) {
				break
			}
			if boundary || (s.requests == 0 && g.n > 0) {
				w.startRequest(s, g, now)
			}
			s.gatePassed, s.gateSeq = true, g.seq
			if g.n > uint32(s.mss) && !g.split {
				g.split = true
				w.e.stats.SegmentsSplit.Add(uint64((int(g.n)+s.mss-1)/s.mss - 1))
			}
		}
		if g.fin || g.rst {
			s.ctlGate = true
		}
		if g.n == 0 || s.sndNxt == g.end() {
			break
		}
		inflight := s.sndNxt - s.sndUna
		if inflight >= s.sndWnd {
			if s.sndWnd == 0 && inflight == 0 && s.persistAt == 0 {
				s.persistBack = max(baseRTO, 2*s.rtt())
				s.persistAt = now + s.persistBack
			}
			break
		}
		n := min(g.end()-s.sndNxt, uint32(s.mss), s.sndWnd-inflight)
		off := s.sndNxt - g.seq
		fl := header.TCPFlagAck
		if s.sndNxt+n == g.end() {
			fl |= header.TCPFlagPsh
		}
		w.emit(s, fl, s.sndNxt, s.rcvNxt, s.advWin, w.tsOpts(s, now), g.data[off:off+n])
		if s.rttAt == 0 {
			s.rttAt, s.rttSeq = now, s.sndNxt+n
		}
		s.sndNxt += n
		s.bytes += uint64(n)
		w.e.stats.PayloadBytesNew.Add(uint64(n))
		s.ackAt, s.ackPend = 0, 0
		if s.rtoAt == 0 {
			s.rtoAt = now + s.rto
		}
	}
	if s.ctlSeen && s.ctlGate && !s.finSent && s.sndNxt == s.ctlSeq && s.sndUna == s.sndNxt {
		if s.ctlRST {
			w.sendRST(s, now)
			w.end(s, FateReplayed, now)
			return
		}
		w.emit(s, header.TCPFlagFin|header.TCPFlagAck, s.sndNxt, s.rcvNxt, s.advWin, w.tsOpts(s, now), nil)
		s.finSent = true
		s.sndNxt++
		s.ackAt, s.ackPend = 0, 0
		s.rtoAt = now + s.rto
	}
}
