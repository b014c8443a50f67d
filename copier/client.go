package copier

import (
	"time"

	"github.com/replaygw/replaygw/protocol"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// The client path: a captured client packet finds its connection (group)
// and each live copy (session) buffers its data, FIN or RST in the captured
// stream (stream.go); the pump (pacing.go) then sends what the pacing gate
// and the target's window allow.

// handlePacket takes one captured client packet.
func (w *worker) handlePacket(p *capPkt, buf *pbuf, now int64) {
	isSyn := p.flags&header.TCPFlagSyn != 0 && p.flags&header.TCPFlagAck == 0
	g := w.groups[p.orig]
	if g == nil && w.absorbed(p, isSyn, now) {
		w.e.stats.PacketsAfterEnd.Add(1)
		return
	}
	if g != nil && isSyn && (!g.syn.seen || g.syn.seq != p.seq) {
		// The client reused the tuple for a new connection. A copy whose
		// captured stream is complete (its FIN or RST is in) needs no more
		// captured packets: it finishes on its own tuple, which the new
		// connection's copies cannot take. Only copies still waiting for
		// captured data are lost.
		for _, s := range g.copies {
			if s != nil && !s.ended && !s.cap.ctlSeen {
				w.abort(s, FatePortReused, now)
			}
		}
		if cur := w.groups[p.orig]; cur == g {
			delete(w.groups, p.orig)
		}
		g = nil
	}
	if g == nil {
		if !isSyn && (p.payLen == 0 || p.flags&(header.TCPFlagRst|header.TCPFlagSyn) != 0) {
			w.e.stats.PacketsNoSession.Add(1)
			return
		}
		if g = w.newGroup(p, buf, now); g == nil {
			return
		}
		if isSyn {
			return
		}
	}
	if isSyn {
		return // a captured SYN retransmission: we retransmit our own
	}
	if g.syn.seen && !g.rttDone {
		g.rttDone = true
		g.rtt = max(p.ts-g.syn.at, 0)
		for _, s := range g.copies {
			if !s.pace.haveLastAck && p.flags&header.TCPFlagAck != 0 {
				s.pace.lastAck, s.pace.haveLastAck = p.ack, true
			}
		}
	}
	if d, ok := g.observeOnline(p); ok {
		if f := w.e.cfg.OnResponse; f != nil {
			f(OnlineResponse, time.Duration(d))
		}
	}
	if p.payLen == 0 && p.flags&(header.TCPFlagFin|header.TCPFlagRst) == 0 {
		w.e.stats.PureACKsDropped.Add(1)
		return
	}
	for i := 0; i < len(g.copies); i++ {
		if s := g.copies[i]; !s.ended {
			w.capture(s, p, buf, now)
		}
	}
}

// handleOnline takes one captured online server packet (a route whose
// protocol reads the responses): every copy of its connection hands it
// to its protocol.
func (w *worker) handleOnline(p *capPkt, buf *pbuf, now int64) {
	g := w.groups[p.orig]
	if g == nil {
		w.e.stats.OnlineNoSession.Add(1)
		return
	}
	for i := 0; i < len(g.copies); i++ {
		if s := g.copies[i]; !s.ended && s.ps != nil && s.ps.needs&protocol.NeedsOnline != 0 {
			w.protoOnline(s, p, buf, now)
		}
	}
}

// protoHeld is what a rewriting session holds besides its captured
// reassembly: the rewritten bytes waiting for the target.
func (s *session) protoHeld() int64 {
	if s.rewrites() {
		return s.cap.buffered
	}
	return 0
}

// capturedSeg is the segment a captured packet carries: its data and FIN,
// or an RST.
func capturedSeg(p *capPkt, buf *pbuf) seg {
	sg := seg{seq: p.seq, ack: p.ack, buf: buf}
	if p.flags&header.TCPFlagRst != 0 {
		sg.rst = true
		return sg
	}
	sg.n = seqnum.Size(p.payLen)
	sg.data = buf.b[p.payOff : p.payOff+p.payLen]
	sg.fin = p.flags&header.TCPFlagFin != 0
	return sg
}

// capture feeds one captured client segment (data, FIN or RST) to s.
func (w *worker) capture(s *session, p *capPkt, buf *pbuf, now int64) {
	e := w.e
	s.timers.lastActive = now
	sg := capturedSeg(p, buf)
	if s.state == stWaiting && !w.reopenCapture(s, p, &sg, now) {
		return
	}
	if now-s.timers.routeAt > int64(e.leaseTTL)/2 {
		s.timers.routeAt = now
		e.leases.AddLease(s.tuple, e.leaseTTL, e.leaseFlags(s.grp.route))
	}
	if !s.fake && p.win != 0 && !s.snd.fixedWin {
		s.snd.advWin = p.win // the client's own (scaled as its SYN said)
	}
	if !s.pace.haveLastAck && p.flags&header.TCPFlagAck != 0 {
		s.pace.lastAck, s.pace.haveLastAck = p.ack, true
	}
	n := int64(sg.n)
	stream := &s.cap // where captured segments are reassembled
	if s.rewrites() {
		stream = &s.ps.raw
	}
	if n > 0 && stream.nxt.LessThan(sg.end()) && (stream.buffered+s.protoHeld()+n > e.cfg.SessionBuffer || e.mem.Load()+n > e.cfg.MemoryLimit) {
		e.stats.BufferDrops.Add(1)
		w.abort(s, FateBufferLimit, now)
		return
	}
	var res insertResult
	if s.rewrites() {
		if res = w.protoCapture(s, sg, p.ts, now); s.ended {
			return
		}
	} else {
		var kept int
		res, kept = s.cap.insert(sg)
		if kept > 0 {
			e.mem.Add(int64(kept))
		}
	}
	switch res {
	case insDup:
		e.stats.CaptureDups.Add(1)
	case insOutOrder:
		e.stats.CaptureOutOfOrder.Add(1)
	}
	if stream.hasGap() {
		if s.timers.gapAt == 0 {
			s.timers.gapAt = now + int64(e.cfg.GapTimeout)
			w.wheel.schedule(s, s.timers.gapAt)
		}
	} else {
		s.timers.gapAt = 0
	}
	w.pump(s, now)
	if !s.ended {
		w.reschedule(s, now)
	}
}
