package copier

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Reopening: the target reset or closed a session's connection while the
// real client's connection goes on (a restarted target, a target with a
// shorter keep-alive). The session leaves that connection (tuple, route)
// and waits (stWaiting) for the next request boundary of the captured
// stream, buffered or still to come; there it opens a new connection on a
// new tuple from the allocator (the old one may sit in TIME_WAIT on the
// target) with a synthesized handshake, like a mid-stream join (ISN = the
// request's first seq - 1), and the replay goes on from that request. The
// bytes between are dropped: the target could not have taken them. A
// reopened connection the target refuses (RST to the SYN, no SYN-ACK in
// SynTimeout) waits again for the next request, so each attempt costs one
// captured request, never a loop. The session keeps one fate; its summary
// counts the connections reopened (Reestablished).
//
// A target that ends every connection at once (it refuses what the replay
// sends it: a login signed for another server, a stream joined in the
// middle) would get a new connection for each captured request, and the
// copier would search the allocator for each: after maxQuickReopens
// reopened connections in a row that each lasted less than quickConn the
// session ends with its cause (counted in ReopensGivenUp). A refused SYN
// does not count: a target that is down is waited for.

const (
	maxQuickReopens = 3
	quickConn       = int64(time.Second)
)

// reopenOrEnd ends s with f, or for a session already reopened (its new
// handshake failed: the target is still down) waits for the next request.
func (w *worker) reopenOrEnd(s *session, f Fate, now int64) {
	if s.sum.reestablished == 0 {
		w.end(s, f, now)
		return
	}
	w.leave(s, now)
	w.reopen(s, f, now)
}

// targetReset handles the target's RST on an established connection.
func (w *worker) targetReset(s *session, now int64) {
	if s.snd.finSent && s.snd.una == s.snd.nxt {
		w.end(s, FateReplayed, now)
		return
	}
	w.leave(s, now)
	w.reopenEnded(s, FateTargetReset, now)
}

// targetClosed leaves a connection whose FIN the target sent while the
// client still sends: our FIN (acking the target's) when all was acked,
// else RST.
func (w *worker) targetClosed(s *session, now int64) {
	cause := FateReplayed
	if s.snd.una == s.snd.nxt {
		w.emit(s, header.TCPFlagFin|header.TCPFlagAck, s.snd.nxt, s.rcv.nxt, s.snd.advWin, w.tsOpts(s, now), nil)
	} else {
		cause = FateTargetReset
		w.sendRST(s, now)
	}
	w.leave(s, now)
	w.reopenEnded(s, cause, now)
}

// reopenEnded reopens s after the target ended its established
// connection, unless it ended maxQuickReopens reopened connections in a
// row within quickConn: then s ends with cause. (A target that refuses
// the SYN, down or restarting, is waited for by reopenOrEnd instead.)
func (w *worker) reopenEnded(s *session, cause Fate, now int64) {
	if r := &s.reest; r.openedAt != 0 && now-r.openedAt < quickConn {
		if r.quick++; r.quick >= maxQuickReopens {
			w.e.stats.ReopensGivenUp.Add(1)
			s.state = stWaiting // leave gave up the tuple
			w.end(s, cause, now)
			return
		}
	} else {
		r.quick = 0
	}
	w.reopen(s, cause, now)
}

// reopen starts the wait of a session that left its connection: from the
// next request boundary already captured and not yet sent, at once, or
// else from the next one captured (reopenCapture).
func (w *worker) reopen(s *session, cause Fate, now int64) {
	if s.proto != nil {
		// The protocol's state belongs to the connection that ended (a
		// login, statement ids): a new connection would need a new one.
		s.state = stWaiting // leave already gave up the tuple
		w.end(s, cause, now)
		return
	}
	s.state = stWaiting
	s.reest.cause = cause
	s.timers = timers{lastActive: s.timers.lastActive}
	prev := s.pace.lastAck
	live := s.cap.live()
	if !s.pace.haveLastAck && len(live) > 0 {
		// Nothing was sent on this connection: its first segment is the
		// request it was opened for, no boundary of its own.
		prev = live[0].ack
	}
	for i := range live {
		g := &live[i]
		if s.cap.nxt.LessThanEq(g.seq) {
			break // beyond a hole
		}
		if g.n > 0 && s.snd.nxt.LessThanEq(g.seq) && w.ackBoundary(prev, g) {
			if freed := s.cap.freeAcked(g.seq); freed > 0 {
				w.e.mem.Add(-freed)
			}
			w.reconnect(s, g.seq, now)
			return
		}
		prev = g.ack
	}
	if freed := s.cap.freeAll(); freed > 0 {
		w.e.mem.Add(-freed)
	}
	if s.cap.ctlSeen {
		w.end(s, cause, now) // the client closed too: nothing more comes
		return
	}
	s.reest.ack = prev
	w.reschedule(s, now)
}

// reconnect opens s's new connection, its first byte at seq.
func (w *worker) reconnect(s *session, seq seqnum.Value, now int64) {
	e := w.e
	g := s.grp
	target := e.cfg.Routes[g.route].To
	if s.noise {
		target = e.cfg.Routes[g.route].Noise
	}
	t, ok := e.alloc.acquire(g.orig, target, s.copy, w.id, now)
	if !ok {
		w.end(s, FateNoPort, now)
		return
	}
	if !e.leases.AddLease(t, e.leaseTTL, e.leaseFlags(g.route)) {
		e.alloc.release(t, now-int64(e.cfg.TimeWait)) // never used: free at once
		w.end(s, FateNoGateway, now)
		return
	}
	s.sum.reestablished++
	s.reest.openedAt = now
	e.stats.SessionsReestablished.Add(1)
	w.open(s, t, seq-1, true, now)
}

// reopenCapture takes a captured segment for a waiting session. It
// reports whether the segment goes on to the new connection (it starts a
// request: the connection was opened for it); otherwise it was dropped.
func (w *worker) reopenCapture(s *session, p *capPkt, sg *seg, now int64) bool {
	if sg.n > 0 && s.cap.nxt.LessThanEq(sg.seq) && w.ackBoundary(s.reest.ack, sg) {
		s.cap = captured{segs: s.cap.segs[:0], nxt: sg.seq}
		w.reconnect(s, sg.seq, now)
		return !s.ended
	}
	if sg.fin || sg.rst {
		w.end(s, s.reest.cause, now)
		return false
	}
	if sg.n > 0 {
		s.reest.ack = p.ack
		if s.cap.nxt.LessThan(sg.end()) {
			s.cap.nxt = sg.end()
		}
	}
	w.reschedule(s, now)
	return false
}
