package copier

import (
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// The target path: a response record (one segment the target sent, as the
// gateway saw it) acks the client's bytes, moves the send window, feeds the
// retransmission state and is acked in turn; then the pump may send more.

// targetSeg is a response record in the engine's vocabulary: gVisor's TCP
// flags (wire.Record carries the same bits, see wire.FlagFIN) and typed
// sequence numbers, converted once at the boundary.
type targetSeg struct {
	flags header.TCPFlags
	seq   seqnum.Value
	ack   seqnum.Value
	win   uint16 // as sent, unscaled
	plen  seqnum.Size
	opts  *wire.Options
	// payload is the first bytes of the payload, when the route's
	// protocol asked the gateway for them.
	payload []byte
}

// window is the target's window, scaled.
func (t *targetSeg) window(shift uint8) seqnum.Size { return seqnum.Size(t.win) << shift }

func fromRecord(r *wire.Record) targetSeg {
	return targetSeg{
		flags:   header.TCPFlags(r.Flags),
		seq:     seqnum.Value(r.Seq),
		ack:     seqnum.Value(r.Ack),
		win:     r.Window,
		plen:    seqnum.Size(r.PayloadLen),
		opts:    &r.Opts,
		payload: r.Payload,
	}
}

// newPayload is the part of the payload beyond nxt (what was received).
func (t *targetSeg) newPayload(nxt seqnum.Value) []byte {
	if nxt.LessThan(t.seq) {
		return nil // beyond a hole: not in stream order
	}
	skip := t.seq.Size(nxt)
	if int(skip) >= len(t.payload) {
		return nil
	}
	return t.payload[skip:]
}

// handleRecord takes one fact about a segment the target sent.
func (w *worker) handleRecord(r *wire.Record, now int64) {
	s := w.sessions[r.Tuple]
	if s == nil || s.ended {
		w.e.stats.RecordsUnknown.Add(1)
		return
	}
	if r.Flags == leaseRefusedNote { // another copier holds the tuple (HandleLeaseRefused)
		w.end(s, FateLeaseTaken, now)
		return
	}
	s.timers.lastActive = now
	t := fromRecord(r)
	switch s.state {
	case stSynSent:
		w.handshake(s, &t, now)
		return
	case stEstablished:
	default:
		return
	}
	if t.flags&header.TCPFlagSyn != 0 {
		// A retransmitted SYN-ACK: our ACK was lost.
		w.sendAck(s, now)
		w.e.stats.ProbeACKs.Add(1)
		return
	}
	if t.flags&header.TCPFlagRst != 0 {
		w.targetReset(s, now)
		return
	}
	if t.flags&header.TCPFlagAck != 0 {
		w.onAck(s, &t, now)
	}
	// Timestamps wrap like sequence numbers (RFC 7323 5.3).
	if s.rcv.tsOn && t.opts.Has&wire.OptTimestamp != 0 && seqnum.Value(s.rcv.tsRecent).LessThanEq(seqnum.Value(t.opts.TSVal)) {
		s.rcv.tsRecent = t.opts.TSVal
	}
	plen := t.plen
	fin := t.flags&header.TCPFlagFin != 0
	switch {
	case plen > 0 || fin:
		end := t.seq.Add(plen)
		if fin {
			end++
		}
		if !s.rcv.nxt.LessThan(end) {
			// Old data, a retransmission or a 1-byte keepalive probe.
			w.sendAck(s, now)
			w.e.stats.ProbeACKs.Add(1)
			break
		}
		if plen > 0 {
			s.pace.lastRespAt = now
			if !s.pace.respFirst && s.pace.requests > 0 {
				s.pace.respFirst = true
				d := now - s.pace.reqAt
				s.sum.responses++
				s.sum.respTotal += d
				s.sum.respMax = max(s.sum.respMax, d)
				if f := w.e.cfg.OnResponse; f != nil {
					f(TargetResponse, time.Duration(d))
				}
			}
		}
		newBytes := int(plen) // payload beyond what was received
		if t.seq.LessThan(s.rcv.nxt) {
			newBytes = int(s.rcv.nxt.Size(t.seq.Add(plen)))
		}
		payload := t.newPayload(s.rcv.nxt)
		s.rcv.ackPend += s.rcv.nxt.Size(end)
		s.rcv.ackSegs++
		s.rcv.nxt = end
		if s.ps != nil {
			if w.protoTarget(s, payload, newBytes, fin, now); s.ended {
				return
			}
		}
		if fin && s.snd.finSent {
			s.rcv.fin = true
			w.sendAck(s, now) // the last packet of the session
		} else if !fin && s.rcv.ackPend >= seqnum.Size(2*s.snd.mss) {
			w.sendAck(s, now)
		} else {
			// The client usually closes right after the server: our FIN
			// (sent by the pump below if its gate opened, else when
			// captured) carries the ACK of the target's, one packet
			// instead of two, like its next request for a response.
			s.rcv.fin = s.rcv.fin || fin
			if at := now + s.ackDelay(t.flags); s.timers.ackAt == 0 || at < s.timers.ackAt {
				s.timers.ackAt = at
			}
		}
	case t.seq == s.rcv.nxt-1:
		// Zero-length keepalive probe.
		w.sendAck(s, now)
		w.e.stats.ProbeACKs.Add(1)
	}
	w.pump(s, now)
	if !s.ended {
		w.checkDone(s, now)
	}
	if !s.ended {
		w.reschedule(s, now)
	}
}

// ackDelay is how long the ACK of data just received may wait for a
// segment of ours to carry it.
//
// One pushed segment is typically a whole response, and the client's next
// request (or its FIN, for a FIN) usually follows: it waits up to
// maxDelAck, the least a Linux client in interactive mode delays, so that
// the request carries it (one packet and one delivery at the target less
// per request). A sender with a single segment outstanding holds its
// tail-loss probe at least 200 ms beyond two round trips, so the wait
// provokes no probe. Anything else (a segment without PSH, more data
// coming; two or more segments, which the sender probes after about two
// round trips, a response and a FIN of its own included) is acked after
// half the client's round trip, at least minRTT.
func (s *session) ackDelay(f header.TCPFlags) int64 {
	if s.rcv.ackSegs == 1 && f&(header.TCPFlagPsh|header.TCPFlagFin) != 0 {
		return maxDelAck
	}
	return min(s.clientRTT()/2+minRTT, maxDelAck)
}

// onAck applies the target's acknowledgement and window.
func (w *worker) onAck(s *session, t *targetSeg, now int64) {
	if s.snd.una.LessThan(t.ack) && t.ack.LessThanEq(s.snd.nxt) {
		s.snd.una = t.ack
		if freed := s.cap.freeAcked(s.snd.una); freed > 0 {
			w.e.mem.Add(-freed)
		}
		s.snd.retries = 0
		s.snd.dupAcks = 0
		if s.rtt.at != 0 && s.rtt.seq.LessThanEq(t.ack) {
			s.rtt.sample(now - s.rtt.at)
			s.rtt.at = 0
		}
		s.rtt.rto = s.rtt.estimatedRTO()
		if s.snd.una == s.snd.nxt {
			s.timers.rtoAt = 0
		} else {
			s.timers.rtoAt = now + s.rtt.rto
		}
	} else if t.ack == s.snd.una && s.snd.nxt != s.snd.una && t.plen == 0 &&
		t.flags&(header.TCPFlagFin|header.TCPFlagSyn) == 0 && t.window(s.snd.shift) == s.snd.wnd {
		// A duplicate ACK: the third triggers a fast retransmit.
		if s.snd.dupAcks++; s.snd.dupAcks == 3 {
			w.e.stats.FastRetransmits.Add(1)
			w.resend(s, now)
		}
	}
	if s.snd.una.LessThanEq(t.ack) {
		wnd := t.window(s.snd.shift)
		if wnd > 0 {
			s.timers.persistAt, s.timers.persistBack = 0, 0
		}
		s.snd.wnd = wnd
	}
}
