package copier

import (
	"github.com/replaygw/replaygw/protocol"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// The session's protocol (package protocol), for routes whose Protocol
// needs the streams. Sessions of the other routes (nil or protocol/tcp)
// have s.proto nil and never reach this file: their bytes go as captured
// and pacing uses the ack heuristic.
//
// What is wired: the captured client stream reaches Client once per byte,
// in order, as it becomes contiguous, and a RequestStart it reports makes
// that segment a request boundary for pacing; the target's response bytes
// in payload records reach Target, and a ResponseComplete releases the
// next request and takes the Exchange. Not yet: the offset map (the
// engine sends the captured bytes, not Client's output), the online
// server's stream (the copier does not capture it), handing Exchanges on
// (they are taken and dropped), and payload records through the worker
// inbox (which drops payloads; synchronous mode keeps them).

// openProtocol returns the protocol state of a new session of route, nil
// for the passthrough.
func openProtocol(rt *Route) protocol.Protocol {
	if rt.Protocol == nil {
		return nil
	}
	p, err := rt.Protocol(protocol.Start{})
	if err != nil || p == nil || p.Needs() == 0 {
		return nil
	}
	return p
}

// protoClient hands the captured bytes that became contiguous from from to
// s.cap.nxt to the protocol, one call per stored segment.
func (w *worker) protoClient(s *session, from seqnum.Value) {
	if s.proto.Needs()&protocol.NeedsClient == 0 {
		return
	}
	for q := from; q.LessThan(s.cap.nxt); {
		i := s.cap.find(q)
		if i < 0 {
			return
		}
		g := &s.cap.segs[i]
		if g.n == 0 {
			return
		}
		off := g.seq.Size(q)
		var m protocol.Mark
		w.protoOut, m = s.proto.Client(w.protoOut[:0], g.data[off:], 0)
		if m&protocol.RequestStart != 0 && off == 0 {
			g.req = true
		}
		q = g.end()
	}
}

// protoTarget hands new response bytes (payload of a record, the part
// beyond what was received) to the protocol.
func (w *worker) protoTarget(s *session, payload []byte) {
	if s.proto.Needs()&protocol.NeedsTarget == 0 || len(payload) == 0 {
		return
	}
	var m protocol.Mark
	w.protoOut, m = s.proto.Target(w.protoOut[:0], payload, 0)
	if m&protocol.ResponseComplete == 0 {
		return
	}
	s.pace.respDone = true
	var x protocol.Exchange
	s.proto.Exchange(&x)
}
