package copier

import (
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Session timers: retransmission with exponential back-off (SYN, data and
// FIN), delayed ACK, pacing release, zero-window persist probes, the FIN
// linger, the capture-gap and idle timeouts.

// onTimer runs when s's wheel entry fires.
func (w *worker) onTimer(s *session, now int64) {
	if s.ended {
		return
	}
	e := w.e
	if s.timers.gapAt != 0 && now >= s.timers.gapAt {
		w.abort(s, FateCaptureGap, now)
		return
	}
	if now >= s.timers.lastActive+int64(e.cfg.IdleTimeout) {
		w.abort(s, FateTimedOut, now)
		return
	}
	switch s.state {
	case stSynSent:
		if now >= s.timers.synDeadline {
			f := FateSynTimeout
			if s.snd.synRefused {
				f = FateTargetReset // refused until the end
			}
			w.sendRST(s, now)
			w.reopenOrEnd(s, f, now)
			return
		}
		if s.timers.rtoAt != 0 && now >= s.timers.rtoAt {
			w.sendSYN(s)
			s.rtt.synRetx = true
			e.stats.Retransmits.Add(1)
			s.rtt.rto = min(2*s.rtt.rto, maxRTO)
			s.timers.rtoAt = min(now+s.rtt.rto, s.timers.synDeadline)
		}
	case stEstablished:
		if s.timers.lingerAt != 0 && now >= s.timers.lingerAt {
			w.abort(s, FateReplayed, now)
			return
		}
		if s.timers.rtoAt != 0 && now >= s.timers.rtoAt {
			if !w.retransmit(s, now) {
				return
			}
		}
		if s.timers.persistAt != 0 && now >= s.timers.persistAt {
			w.probeWindow(s, now)
		}
		if s.timers.ackAt != 0 && now >= s.timers.ackAt {
			w.sendAck(s, now)
		}
		if s.timers.paceAt != 0 && now >= s.timers.paceAt {
			s.timers.paceAt = 0
			w.pump(s, now)
			if s.ended {
				return
			}
		}
	}
	w.reschedule(s, now)
}

// retransmit resends the oldest unacked segment; false when the session
// gave up.
func (w *worker) retransmit(s *session, now int64) bool {
	if s.snd.una == s.snd.nxt {
		s.timers.rtoAt = 0
		return true
	}
	s.snd.retries++
	if s.snd.retries > maxDataRetries {
		w.abort(s, FateRetransLimit, now)
		return false
	}
	w.resend(s, now)
	s.rtt.rto = min(2*s.rtt.rto, maxRTO)
	s.timers.rtoAt = now + s.rtt.rto
	return true
}

// probeWindow sends a zero-window probe (an old-sequence ACK the target
// must answer with its current window) and backs off.
func (w *worker) probeWindow(s *session, now int64) {
	if s.snd.wnd != 0 || s.snd.nxt != s.snd.una {
		s.timers.persistAt, s.timers.persistBack = 0, 0
		w.pump(s, now)
		return
	}
	w.emit(s, header.TCPFlagAck, s.snd.una-1, s.rcv.nxt, s.snd.advWin, w.tsOpts(s, now), nil)
	w.e.stats.WindowProbes.Add(1)
	s.timers.persistBack = min(2*s.timers.persistBack, maxRTO)
	s.timers.persistAt = now + s.timers.persistBack
}

// resend sends the oldest unacked segment (or FIN) again.
func (w *worker) resend(s *session, now int64) {
	w.e.stats.Retransmits.Add(1)
	s.rtt.at = 0 // Karn: an ACK after a retransmission is no sample
	if s.snd.finSent && s.snd.una == s.snd.nxt-1 {
		w.emit(s, header.TCPFlagFin|header.TCPFlagAck, s.snd.una, s.rcv.nxt, s.snd.advWin, w.tsOpts(s, now), nil)
	} else if i := s.cap.find(s.snd.una); i >= 0 {
		g := &s.cap.segs[i]
		n := min(s.snd.una.Size(g.end()), seqnum.Size(s.snd.mss), s.snd.una.Size(s.snd.nxt))
		off := g.seq.Size(s.snd.una)
		fl := header.TCPFlagAck
		if s.snd.una.Add(n) == g.end() {
			fl |= header.TCPFlagPsh
		}
		w.emit(s, fl, s.snd.una, s.rcv.nxt, s.snd.advWin, w.tsOpts(s, now), g.data[off:off+n])
		s.acked()
	}
}
