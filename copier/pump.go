package copier

import (
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Sending the captured stream to the target: each new request passes the
// pacing gate (pacing.go), then segments go as the target's window allows,
// cut at its MSS; the client's FIN or RST follows once everything before it
// is acked. Called from both paths: new captured data, new acks or window.

// ackBoundary reports whether g starts a new request after one whose
// online ack was prev: the ack changed (the client received response
// bytes in between), or what Config.Boundary says.
func (w *worker) ackBoundary(prev seqnum.Value, g *seg) bool {
	if f := w.e.cfg.Boundary; f != nil {
		return f(uint32(prev), uint32(g.ack), g.data)
	}
	return g.ack != prev
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
		if s.rcv.fin && g.n > 0 {
			w.targetClosed(s, now) // the target will not take these bytes
			return
		}
		if s.snd.nxt == g.seq && !(s.pace.gatePassed && s.pace.gateSeq == g.seq) {
			boundary := s.pace.haveLastAck && w.ackBoundary(s.pace.lastAck, g)
			if s.rewrites() {
				boundary = g.req && s.pace.requests > 0
			}
			if !s.pace.haveLastAck {
				s.pace.lastAck, s.pace.haveLastAck = g.ack, true
			}
			if boundary && !w.paceRelease(s, g, now) {
				break
			}
			// The first data is the first request, except that bytes a
			// protocol inserted (no request start) are none.
			if boundary || (s.pace.requests == 0 && g.n > 0 && (g.req || !s.rewrites())) {
				w.startRequest(s, g, now)
			}
			if g.req && s.ps != nil {
				w.protoSent(s, now)
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
		s.acked()
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
		s.acked()
		s.timers.rtoAt = now + s.rtt.rto
	}
}
