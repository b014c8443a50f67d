package copier

import (
	"time"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// A session's life: created with its connection's first packet, SYN sent,
// established by the target's SYN-ACK, ended once (FIN exchange, RST,
// timer or limit) with exactly one Fate, which releases its tuple, route
// and buffers.

const (
	stSynSent = iota + 1
	stEstablished
	stWaiting // between two connections to the target (reopen.go)
	stDone
)

// newGroup starts the sessions of a new captured connection. It returns
// nil when none started (the fates are recorded).
func (w *worker) newGroup(p *capPkt, buf *pbuf, now int64) *group {
	e := w.e
	cfg := &e.cfg
	g := &group{orig: p.orig, route: p.route}
	isSyn := p.flags&header.TCPFlagSyn != 0
	if isSyn {
		g.syn.seen, g.syn.seq, g.syn.at, g.syn.win = true, p.seq, p.ts, p.win
		g.syn.optLen = copy(g.syn.opts[:], buf.b[p.optOff:p.optOff+p.optLen])
		o := g.syn.opts[:g.syn.optLen]
		g.syn.tsVal, g.syn.tsOn = synTSVal(o)
		g.syn.ws = synHasWS(o)
	}
	fail := func(f Fate) {
		for c := range cfg.Copies {
			w.recordFate(&SessionSummary{Original: p.orig, Copy: c, Fate: f, Start: time.Unix(0, now), End: time.Unix(0, now)})
		}
		w.tombstone(g, now)
	}
	if !sampled(p.orig, cfg.SamplePercent) {
		fail(FateSampledOut)
		return nil
	}
	if !isSyn && cfg.RequireSYN {
		fail(FateNoSYN)
		return nil
	}
	if !w.makeRoom(cfg.Copies, now) {
		fail(FateShed)
		return nil
	}
	rt := &cfg.Routes[p.route]
	w.nextConn++
	g.id = w.nextConn<<8 | uint64(w.id&0xff)
	sessions := cfg.Copies
	if rt.Noise.IsValid() {
		sessions++ // the last one goes to the noise target
	}
	for c := range sessions {
		target, noise := rt.To, c == cfg.Copies
		if noise {
			target = rt.Noise
		}
		sum := SessionSummary{Original: p.orig, Copy: c, Noise: noise, Start: time.Unix(0, now), End: time.Unix(0, now)}
		if !e.rate.allow(now) {
			sum.Fate = FateRateLimited
			w.recordFate(&sum)
			continue
		}
		t, ok := e.alloc.acquire(p.orig, target, c, w.id, now)
		if !ok {
			sum.Fate = FateNoPort
			w.recordFate(&sum)
			continue
		}
		sum.Tuple = t
		if !e.leases.AddLease(t, e.leaseTTL, e.leaseFlags(p.route)) {
			e.alloc.release(t, now-int64(cfg.TimeWait)) // never used: free at once
			sum.Fate = FateNoGateway
			w.recordFate(&sum)
			continue
		}
		s := w.newSession(g, c, noise, t, p, now)
		g.copies = append(g.copies, s)
		if g.alive++; s.ended {
			// Its protocol refused it: the fate is recorded.
			continue
		}
	}
	if g.alive == 0 {
		w.tombstone(g, now)
		return nil
	}
	w.groups[p.orig] = g
	w.table.add(g)
	return g
}

func (w *worker) newSession(g *group, c int, noise bool, t wire.Tuple, p *capPkt, now int64) *session {
	s := &session{grp: g, copy: c, noise: noise}
	iss := p.seq - 1
	if g.syn.seen {
		iss = g.syn.seq
	}
	if !g.syn.seen {
		w.e.stats.SynthesizedSYNs.Add(1)
	}
	s.cap.nxt = iss + 1
	s.sum.start = now
	w.live++
	w.e.stats.SessionsStarted.Add(1)
	w.open(s, t, iss, !g.syn.seen, now)
	return s
}

// open starts s's connection to the target on tuple t: the state of a
// new simulated client whose SYN (iss) goes now, the captured one replayed
// or, fake, one synthesized (joined mid-stream or reopened).
func (w *worker) open(s *session, t wire.Tuple, iss seqnum.Value, fake bool, now int64) {
	cfg := &w.e.cfg
	g := s.grp
	s.tuple, s.v6, s.fake = t, !t.Client.Addr().Is4(), fake
	s.flow, _ = pkt.NewFlow(t.Client, t.Target) // on error, Build reports it per packet
	s.snd = sendState{iss: iss, una: iss, nxt: iss + 1, mss: defaultMSS, advWin: g.syn.win}
	if fake {
		s.snd.advWin = 65535
	}
	s.rcv = recvState{tsStart: now}
	s.pace = pacing{}
	s.rtt = rttEstimate{rto: initialRTO, synAt: now}
	s.timers = timers{lastActive: now, routeAt: now, rtoAt: now + initialRTO, synDeadline: now + int64(cfg.SynTimeout)}
	s.state = stSynSent
	w.sessions[t] = s
	if s.ps == nil && !w.openProtocol(s, now) {
		return
	}
	w.sendSYN(s)
	w.reschedule(s, now)
}

func (w *worker) handshake(s *session, t *targetSeg, now int64) {
	if t.flags&header.TCPFlagRst != 0 {
		if t.flags&header.TCPFlagAck != 0 && t.ack == s.snd.iss+1 {
			if s.sum.reestablished > 0 {
				// A reopened connection refused: wait for the client's
				// next request and try then (reopen.go).
				w.reopenOrEnd(s, FateTargetReset, now)
				return
			}
			// A new session refused: the target's server is down or
			// restarting. The SYN's retransmission timer tries again
			// until the SYN deadline, so a target back within it gets
			// the session (the client's bytes meanwhile are buffered).
			if !s.snd.synRefused {
				s.snd.synRefused = true
				w.e.stats.SynRefused.Add(1)
			}
		}
		return
	}
	if t.flags&header.TCPFlagAck != 0 && t.ack != s.snd.iss+1 {
		// An unacceptable ACK in SYN-SENT: the target still holds an
		// older connection on this tuple (a copier restarted while its
		// sessions were open, a lost RST) and answers the SYN with a
		// challenge ACK. Reset that connection (RFC 9293 3.10.7.3) so
		// that the SYN's retransmission finds the tuple free.
		w.emit(s, header.TCPFlagRst, t.ack, 0, 0, nil, nil)
		w.e.stats.StaleResets.Add(1)
		return
	}
	if !t.flags.Contains(header.TCPFlagSyn | header.TCPFlagAck) {
		return
	}
	g := s.grp
	s.rcv.nxt = t.seq + 1
	s.snd.una = s.snd.iss + 1
	s.snd.wnd = t.window(0)
	ws := g.syn.ws && !s.fake // a synthesized SYN carries no window scale
	if t.opts.Has&wire.OptWScale != 0 && ws {
		s.snd.shift = min(t.opts.WScale, 14)
	} else if ws {
		// The target refused window scaling: the client's scaled window
		// values would read as tiny windows. Advertise the maximum.
		s.snd.fixedWin = true
		s.snd.advWin = 65535
	}
	if t.opts.Has&wire.OptMSS != 0 && t.opts.MSS > 0 {
		s.snd.mss = int(t.opts.MSS)
	}
	if t.opts.Has&wire.OptTimestamp != 0 && g.syn.tsOn && !s.fake {
		s.rcv.tsOn = true
		s.rcv.tsRecent = t.opts.TSVal
		s.snd.mss -= 12
	}
	s.snd.mss = max(s.snd.mss, 64)
	s.state = stEstablished
	if !s.rtt.synRetx {
		s.rtt.sample(now - s.rtt.synAt)
	}
	s.rtt.rto, s.timers.rtoAt, s.snd.retries = s.rtt.estimatedRTO(), 0, 0
	s.pace.respBase = s.rcv.nxt
	s.pace.reqAt = now
	// A request already buffered carries the handshake's ACK: one packet
	// (and one delivery at the target) less per connection.
	sent := w.emitted
	w.pump(s, now)
	if w.emitted == sent && !s.ended {
		w.sendAck(s, now)
	}
	if !s.ended {
		w.reschedule(s, now)
	}
}

// checkDone ends a session whose both directions are closed.
func (w *worker) checkDone(s *session, now int64) {
	if !s.snd.finSent || s.snd.una != s.snd.nxt {
		return
	}
	if s.rcv.fin {
		w.end(s, FateReplayed, now)
		return
	}
	if s.timers.lingerAt == 0 {
		s.timers.lingerAt = now + finLinger
	}
}

// abort sends RST to the target and ends s.
func (w *worker) abort(s *session, f Fate, now int64) {
	if s.ended {
		return
	}
	if s.state != stWaiting {
		w.sendRST(s, now)
	}
	w.end(s, f, now)
}

// end records s's fate and releases everything it holds.
func (w *worker) end(s *session, f Fate, now int64) {
	if s.ended {
		return
	}
	e := w.e
	s.ended = true
	if s.state != stWaiting { // a waiting session holds no tuple
		w.leave(s, now)
	}
	s.state = stDone
	w.wheel.remove(s)
	if freed := s.cap.freeAll(); freed > 0 {
		e.mem.Add(-freed)
	}
	s.cap.segs = nil
	w.freeProto(s)
	w.live--
	e.stats.SessionsEnded.Add(1)
	g := s.grp
	w.recordFate(&SessionSummary{
		Tuple: s.tuple, Original: g.orig, Copy: s.copy, Fate: f,
		Requests: s.sum.requests, Bytes: s.sum.bytes, Responses: s.sum.responses,
		RespTimeTotal: time.Duration(s.sum.respTotal), RespTimeMax: time.Duration(s.sum.respMax),
		Reestablished:   s.sum.reestablished,
		OnlineResponses: g.online.responses, OnlineRespTotal: time.Duration(g.online.respTotal), OnlineRespMax: time.Duration(g.online.respMax),
		Start: time.Unix(0, s.sum.start), End: time.Unix(0, now),
		Noise: s.noise, ProtoFate: s.protoFate(), Exchanges: s.protoExchanges(), Protocol: s.proto,
	})
	if g.alive--; g.alive == 0 && !g.dead {
		if cur := w.groups[g.orig]; cur == g || cur == nil {
			w.tombstone(g, now)
		}
	}
}

// leave gives up s's connection to the target: its tuple, route and
// timers.
func (w *worker) leave(s *session, now int64) {
	e := w.e
	w.wheel.remove(s)
	delete(w.sessions, s.tuple)
	e.leases.ReleaseLease(s.tuple)
	e.alloc.release(s.tuple, now)
}

// reschedule files s on the wheel at its earliest deadline.
func (w *worker) reschedule(s *session, now int64) {
	at := s.timers.lastActive + int64(w.e.cfg.IdleTimeout)
	for _, d := range [...]int64{s.timers.rtoAt, s.timers.ackAt, s.timers.paceAt, s.timers.gapAt, s.timers.persistAt, s.timers.lingerAt} {
		if d != 0 && d < at {
			at = d
		}
	}
	if s.state == stSynSent && s.timers.synDeadline < at {
		at = s.timers.synDeadline
	}
	at = max(at, now)
	if s.wAt != 0 && s.wAt < at && s.wAt-now < refileWithin {
		w.wheel.remove(s) // armed for a deadline that went away
	}
	w.wheel.schedule(s, at)
}

// refileWithin: an entry armed earlier than its session's next deadline is
// moved when it would fire within this long (a wake saved); a farther one
// fires early and re-arms, which costs less than re-filing at every packet.
const refileWithin = int64(time.Second)
