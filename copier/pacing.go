package copier

import (
	"github.com/replaygw/replaygw/protocol"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

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
func (s *session) respIdle() int64 { return 2 * s.clientRTT() }

// paceRelease decides whether the new request starting with g may go.
func (w *worker) paceRelease(s *session, g *seg, now int64) bool {
	if w.e.cfg.NoPacing || s.pace.respDone {
		return true
	}
	ahead := s.pace.lastAck.LessThan(g.ack) // the online server sent bytes in between
	expected := s.pace.lastAck.Size(g.ack)
	got := s.pace.respBase.Size(s.rcv.nxt)
	switch {
	case s.sum.requests == 0 && !ahead:
		return true // the first request, and no greeting to wait for
	case ahead && got >= expected:
		return true
	case got > 0 && s.pace.lastRespAt != 0 && now-s.pace.lastRespAt >= s.respIdle():
		return true
	case now-s.pace.reqAt >= maxResponseWait:
		w.e.stats.PaceWaitExpired.Add(1)
		w.e.log.Debug("request released by the response wait cap", "tuple", s.tuple.String(),
			"expected", expected, "got", got, "requests", s.sum.requests)
		return true
	}
	if !s.pace.held {
		s.pace.held = true
		w.e.stats.PaceHeld.Add(1)
	}
	at := s.pace.reqAt + maxResponseWait
	if got > 0 && s.pace.lastRespAt != 0 {
		at = min(at, s.pace.lastRespAt+s.respIdle())
	}
	s.timers.paceAt = at
	return false
}

// startRequest marks g as the start of a new request.
// A bare FIN or RST passes the gate the same way but is no request.
func (w *worker) startRequest(s *session, g *seg, now int64) {
	s.pace.lastAck = g.ack
	s.pace.held = false
	s.timers.paceAt = 0
	if g.n == 0 {
		return
	}
	s.pace.respBase = s.rcv.nxt
	s.pace.reqAt = now
	s.pace.respFirst = false
	s.pace.respDone = false
	s.sum.requests++
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
		i := s.cap.find(s.snd.nxt)
		if i < 0 {
			break
		}
		g := &s.cap.segs[i]
		if s.snd.nxt == g.seq && !(s.pace.gatePassed && s.pace.gateSeq == g.seq) {
			boundary := s.pace.haveLastAck && g.ack != s.pace.lastAck
			if f := w.e.cfg.Boundary; f != nil && s.pace.haveLastAck {
				boundary = f(uint32(s.pace.lastAck), uint32(g.ack), g.data)
			}
			if s.proto != nil && s.proto.Needs()&protocol.NeedsClient != 0 {
				boundary = g.req && s.sum.requests > 0
			}
			if !s.pace.haveLastAck {
				s.pace.lastAck, s.pace.haveLastAck = g.ack, true
			}
			if boundary && !w.paceRelease(s, g, now) {
				break
			}
			if boundary || (s.sum.requests == 0 && g.n > 0) {
				w.startRequest(s, g, now)
			}
			s.pace.gatePassed, s.pace.gateSeq = true, g.seq
			if g.n > seqnum.Size(s.snd.mss) && !g.split {
				g.split = true
				w.e.stats.SegmentsSplit.Add(uint64((int(g.n)+s.snd.mss-1)/s.snd.mss - 1))
			}
		}
		if g.fin || g.rst {
			s.cap.ctlGate = true
		}
		if g.n == 0 || s.snd.nxt == g.end() {
			break
		}
		inflight := s.snd.una.Size(s.snd.nxt)
		if inflight >= s.snd.wnd {
			if s.snd.wnd == 0 && inflight == 0 && s.timers.persistAt == 0 {
				s.timers.persistBack = max(baseRTO, 2*s.clientRTT())
				s.timers.persistAt = now + s.timers.persistBack
			}
			break
		}
		n := min(s.snd.nxt.Size(g.end()), seqnum.Size(s.snd.mss), s.snd.wnd-inflight)
		off := g.seq.Size(s.snd.nxt)
		fl := header.TCPFlagAck
		if s.snd.nxt.Add(n) == g.end() {
			fl |= header.TCPFlagPsh
		}
		w.emit(s, fl, s.snd.nxt, s.rcv.nxt, s.snd.advWin, w.tsOpts(s, now), g.data[off:off+n])
		if s.rtt.at == 0 {
			s.rtt.at, s.rtt.seq = now, s.snd.nxt.Add(n)
		}
		s.snd.nxt.UpdateForward(n)
		s.sum.bytes += uint64(n)
		w.e.stats.PayloadBytesNew.Add(uint64(n))
		s.timers.ackAt, s.rcv.ackPend = 0, 0
		if s.timers.rtoAt == 0 {
			s.timers.rtoAt = now + s.rtt.rto
		}
	}
	if s.cap.ctlSeen && s.cap.ctlGate && !s.snd.finSent && s.snd.nxt == s.cap.ctlSeq && s.snd.una == s.snd.nxt {
		if s.cap.ctlRST {
			w.sendRST(s, now)
			w.end(s, FateReplayed, now)
			return
		}
		w.emit(s, header.TCPFlagFin|header.TCPFlagAck, s.snd.nxt, s.rcv.nxt, s.snd.advWin, w.tsOpts(s, now), nil)
		s.snd.finSent = true
		s.snd.nxt++
		s.timers.ackAt, s.rcv.ackPend = 0, 0
		s.timers.rtoAt = now + s.rtt.rto
	}
}
