package copier

import "gvisor.dev/gvisor/pkg/tcpip/header"

// Session timers: retransmission with exponential back-off (SYN, data and
// FIN), delayed ACK, pacing release, zero-window persist probes, the FIN
// linger, the capture-gap and idle timeouts.

// onTimer runs when s's wheel entry fires.
func (w *worker) onTimer(s *session, now int64) {
	if s.ended {
		return
	}
	e := w.e
	if s.gapAt != 0 && now >= s.gapAt {
		w.abort(s, FateCaptureGap, now)
		return
	}
	if now >= s.lastActive+int64(e.cfg.IdleTimeout) {
		w.abort(s, FateTimedOut, now)
		return
	}
	switch s.state {
	case stSynSent:
		if now >= s.synDeadline {
			w.abort(s, FateSynTimeout, now)
			return
		}
		if s.rtoAt != 0 && now >= s.rtoAt {
			w.sendSYN(s)
			s.synRetx = true
			e.stats.Retransmits.Add(1)
			s.rto = min(2*s.rto, maxRTO)
			s.rtoAt = min(now+s.rto, s.synDeadline)
		}
	case stEstablished:
		if s.lingerAt != 0 && now >= s.lingerAt {
			w.abort(s, FateReplayed, now)
			return
		}
		if s.rtoAt != 0 && now >= s.rtoAt {
			if !w.retransmit(s, now) {
				return
			}
		}
		if s.persistAt != 0 && now >= s.persistAt {
			w.probeWindow(s, now)
		}
		if s.ackAt != 0 && now >= s.ackAt {
			w.sendAck(s, now)
		}
		if s.paceAt != 0 && now >= s.paceAt {
			s.paceAt = 0
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
	if s.sndUna == s.sndNxt {
		s.rtoAt = 0
		return true
	}
	s.retries++
	if s.retries > maxDataRetries {
		w.abort(s, FateRetransLimit, now)
		return false
	}
	w.resend(s, now)
	s.rto = min(2*s.rto, maxRTO)
	s.rtoAt = now + s.rto
	return true
}

// probeWindow sends a zero-window probe (an old-sequence ACK the target
// must answer with its current window) and backs off.
func (w *worker) probeWindow(s *session, now int64) {
	if s.sndWnd != 0 || s.sndNxt != s.sndUna {
		s.persistAt, s.persistBack = 0, 0
		w.pump(s, now)
		return
	}
	w.emit(s, header.TCPFlagAck, s.sndUna-1, s.rcvNxt, s.advWin, w.tsOpts(s, now), nil)
	w.e.stats.WindowProbes.Add(1)
	s.persistBack = min(2*s.persistBack, maxRTO)
	s.persistAt = now + s.persistBack
}

// resend sends the oldest unacked segment (or FIN) again.
func (w *worker) resend(s *session, now int64) {
	w.e.stats.Retransmits.Add(1)
	s.rttAt = 0 // Karn: an ACK after a retransmission is no sample
	if s.finSent && s.sndUna == s.sndNxt-1 {
		w.emit(s, header.TCPFlagFin|header.TCPFlagAck, s.sndUna, s.rcvNxt, s.advWin, w.tsOpts(s, now), nil)
	} else if i := s.findSeg(s.sndUna); i >= 0 {
		g := &s.segs[i]
		n := min(g.end()-s.sndUna, uint32(s.mss), s.sndNxt-s.sndUna)
		off := s.sndUna - g.seq
		fl := header.TCPFlagAck
		if s.sndUna+n == g.end() {
			fl |= header.TCPFlagPsh
		}
		w.emit(s, fl, s.sndUna, s.rcvNxt, s.advWin, w.tsOpts(s, now), g.data[off:off+n])
		s.ackAt, s.ackPend = 0, 0
	}
}

// sampleRTT folds one round-trip measurement into the smoothed estimate
// and sets the retransmission timeout from it (RFC 6298 2.2, 2.3).
func (s *session) sampleRTT(r int64) {
	r = max(r, 0)
	if !s.rttValid {
		s.srtt, s.rttvar, s.rttValid = r, r/2, true
	} else {
		d := s.srtt - r
		if d < 0 {
			d = -d
		}
		s.rttvar = (3*s.rttvar + d) / 4
		s.srtt = (7*s.srtt + r) / 8
	}
	s.rto = s.estimatedRTO()
}

// estimatedRTO is srtt + 4·rttvar within [baseRTO, maxRTO], or the
// initial timeout while nothing was measured.
func (s *session) estimatedRTO() int64 {
	if !s.rttValid {
		return initialRTO
	}
	return min(max(s.srtt+4*s.rttvar, baseRTO), maxRTO)
}
