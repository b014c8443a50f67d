package copier

import (
	"time"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// A session's life: created with its connection's first packet, SYN sent,
// established by the target's SYN-ACK, ended once (FIN exchange, RST,
// timer or limit) with exactly one Fate, which releases its tuple, route
// and buffers.

const (
	stSynSent = iota + 1
	stEstablished
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
	target := cfg.Routes[p.route].To
	for c := range cfg.Copies {
		sum := SessionSummary{Original: p.orig, Copy: c, Start: time.Unix(0, now), End: time.Unix(0, now)}
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
		if !e.rt.AddRoute(t, e.routeTTL) {
			e.alloc.release(t, now-int64(cfg.TimeWait)) // never used: free at once
			sum.Fate = FateNoGateway
			w.recordFate(&sum)
			continue
		}
		s := w.newSession(g, c, t, p, now)
		g.copies = append(g.copies, s)
		g.alive++
	}
	if g.alive == 0 {
		w.tombstone(g, now)
		return nil
	}
	w.groups[p.orig] = g
	return g
}

func (w *worker) newSession(g *group, c int, t wire.Tuple, p *capPkt, now int64) *session {
	cfg := &w.e.cfg
	s := &session{grp: g, copy: c, tuple: t, v6: !t.Client.Addr().Is4()}
	s.flow, _ = pkt.NewFlow(t.Client, t.Target) // on error, Build reports it per packet
	if g.syn.seen {
		s.snd.iss = g.syn.seq
		s.snd.advWin = g.syn.win
	} else {
		s.snd.iss = p.seq - 1
		s.fake = true
		s.snd.advWin = 65535
		w.e.stats.SynthesizedSYNs.Add(1)
	}
	s.snd.una, s.snd.nxt, s.cap.nxt = s.snd.iss, s.snd.iss+1, s.snd.iss+1
	s.snd.mss = defaultMSS
	s.sum.start, s.timers.lastActive, s.timers.routeAt, s.rcv.tsStart = now, now, now, now
	s.state = stSynSent
	s.rtt.rto = initialRTO
	s.timers.rtoAt = now + s.rtt.rto
	s.timers.synDeadline = now + int64(cfg.SynTimeout)
	s.proto = openProtocol(&cfg.Routes[g.route])
	w.sessions[t] = s
	w.e.stats.SessionsStarted.Add(1)
	w.sendSYN(s)
	w.reschedule(s, now)
	return s
}

func (w *worker) handshake(s *session, t *targetSeg, now int64) {
	if t.flags&header.TCPFlagRst != 0 {
		if t.flags&header.TCPFlagAck != 0 && t.ack == s.snd.iss+1 {
			w.end(s, FateTargetReset, now)
		}
		return
	}
	if !t.flags.Contains(header.TCPFlagSyn|header.TCPFlagAck) || t.ack != s.snd.iss+1 {
		return
	}
	g := s.grp
	s.rcv.nxt = t.seq + 1
	s.snd.una = s.snd.iss + 1
	s.snd.wnd = t.window(0)
	if t.opts.Has&wire.OptWScale != 0 && g.syn.ws {
		s.snd.shift = min(t.opts.WScale, 14)
	} else if g.syn.ws {
		// The target refused window scaling: the client's scaled window
		// values would read as tiny windows. Advertise the maximum.
		s.snd.fixedWin = true
		s.snd.advWin = 65535
	}
	if t.opts.Has&wire.OptMSS != 0 && t.opts.MSS > 0 {
		s.snd.mss = int(t.opts.MSS)
	}
	if t.opts.Has&wire.OptTimestamp != 0 && g.syn.tsOn && g.syn.seen {
		s.rcv.tsOn = true
		s.rcv.tsRecent = t.opts.TSVal
		s.snd.mss -= 12
	}
	s.snd.mss = max(s.snd.mss, 64)
	s.state = stEstablished
	if !s.rtt.synRetx {
		s.rtt.sample(now - s.sum.start)
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
	w.sendRST(s, now)
	w.end(s, f, now)
}

// end records s's fate and releases everything it holds.
func (w *worker) end(s *session, f Fate, now int64) {
	if s.ended {
		return
	}
	e := w.e
	s.ended = true
	s.state = stDone
	w.wheel.remove(s)
	if freed := s.cap.freeAll(); freed > 0 {
		e.mem.Add(-freed)
	}
	s.cap.segs = nil
	delete(w.sessions, s.tuple)
	e.rt.DelRoute(s.tuple)
	e.alloc.release(s.tuple, now)
	e.stats.SessionsEnded.Add(1)
	g := s.grp
	w.recordFate(&SessionSummary{
		Tuple: s.tuple, Original: g.orig, Copy: s.copy, Fate: f,
		Requests: s.sum.requests, Bytes: s.sum.bytes, Responses: s.sum.responses,
		RespTimeTotal: time.Duration(s.sum.respTotal), RespTimeMax: time.Duration(s.sum.respMax),
		OnlineResponses: g.online.responses, OnlineRespTotal: time.Duration(g.online.respTotal), OnlineRespMax: time.Duration(g.online.respMax),
		Start: time.Unix(0, s.sum.start), End: time.Unix(0, now),
	})
	if g.alive--; g.alive == 0 && !g.dead {
		if cur := w.groups[g.orig]; cur == g || cur == nil {
			w.tombstone(g, now)
		}
	}
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
	w.wheel.schedule(s, max(at, now))
}
