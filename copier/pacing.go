package copier

import "github.com/replaygw/replaygw/protocol"

// The pacing gate: requests go to the target paced like the real client.
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
// Segments continuing a request (same ack) are sent at once. For a route
// whose protocol reads the client stream (proto.go), its request starts
// replace the ack change, and its "response complete" releases at once; a
// protocol whose server answers in order (protocol.Pipeliner) has its
// requests sent as captured while fewer than protocol.PipelineDepth are
// unanswered.

// respIdle is how long the response must be quiet to count as done.
func (s *session) respIdle() int64 { return 2 * s.clientRTT() }

// paceRelease decides whether the new request starting with g may go.
func (w *worker) paceRelease(s *session, g *seg, now int64) bool {
	if w.e.cfg.NoPacing || s.pace.respDone {
		return true
	}
	if p, ok := s.proto.(protocol.Pipeliner); ok && s.pace.requests-p.Answered() < protocol.PipelineDepth {
		return true // an ordered protocol: sent as captured
	}
	ahead := s.pace.lastAck.LessThan(g.ack) // the online server sent bytes in between
	expected := s.pace.lastAck.Size(g.ack)
	got := s.pace.respBase.Size(s.rcv.nxt)
	switch {
	case s.pace.requests == 0 && !ahead:
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
	s.pace.requests++
	s.sum.requests++
	w.e.stats.RequestsReleased.Add(1)
}
