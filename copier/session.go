package copier

import (
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// A group is one captured connection (client -> online service); each of
// its copies is a session: one simulated client TCP against the target.

type group struct {
	orig      wire.Tuple
	route     int
	synSeen   bool
	synSeq    uint32
	synTs     int64 // capture time of the SYN
	synOpts   [40]byte
	synOptLen int
	synWin    uint16
	synTS     bool // the SYN carried timestamps
	synTSVal  uint32
	synWS     bool // the SYN carried a window scale
	rtt       int64
	rttDone   bool
	copies    []*session

	// The online server's response time, estimated from the captured
	// client stream (see observeOnline).
	reqOut                 bool   // a request is waiting for its response
	reqTs                  int64  // its capture time
	reqAck                 uint32 // the client's ack when it was sent
	onResponses            int
	onRespTotal, onRespMax int64
	alive                  int
	dead                   bool
	deadUntil              int64
}

const (
	stSynSent = iota + 1
	stEstablished
	stDone
)

const (
	baseRTO         = int64(200 * time.Millisecond) // floor of the retransmission timeout
	initialRTO      = int64(time.Second)            // before any round trip was measured (RFC 6298 2.1)
	maxRTO          = int64(60 * time.Second)
	maxDataRetries  = 6 // gives up 25.4 s after the first send
	minRTT          = int64(time.Millisecond)
	maxDelAck       = int64(40 * time.Millisecond)
	maxResponseWait = int64(5 * time.Second)
	finLinger       = int64(5 * time.Second)
	defaultMSS      = 536
)

type session struct {
	wheelEntry
	grp   *group
	copy  int
	tuple wire.Tuple
	src   tcpip.Address
	dst   tcpip.Address
	v6    bool
	state uint8
	fake  bool
	ipID  uint16

	// Sending (client sequence space, the client's own numbers).
	iss, sndUna, sndNxt uint32
	sndWnd              uint32
	sndShift            uint8
	mss                 int
	advWin              uint16
	fixedWin            bool // advWin stays 65535
	// Receiving (the target's sequence space).
	rcvNxt   uint32
	tsOn     bool
	tsRecent uint32
	tsStart  int64

	// The captured stream.
	segs      []seg // live part: segs[head:]
	head      int
	buffered  int64
	capNxt    uint32 // end of the contiguous captured data
	ctlSeen   bool   // a FIN or RST is contiguous
	ctlSeq    uint32 // where it sits
	ctlRST    bool
	ctlGate   bool // its pacing gate was passed
	finSent   bool
	targetFin bool

	// Pacing.
	lastAck     uint32 // online ack of the last request boundary
	haveLastAck bool
	gatePassed  bool
	gateSeq     uint32
	held        bool
	respBase    uint32 // rcvNxt when the current request was released
	reqAt       int64
	lastRespAt  int64
	respFirst   bool

	// Round-trip estimate (RFC 6298): one segment timed at a time.
	srtt, rttvar int64
	rttValid     bool
	rttSeq       uint32 // the timed segment ends here ...
	rttAt        int64  // ... and was sent then (0: none timed)
	synRetx      bool   // the SYN was sent more than once (no sample from it)

	// Timers (unix ns; 0 = off).
	rto         int64
	rtoAt       int64
	retries     int
	dupAcks     int
	synDeadline int64
	ackAt       int64
	ackPend     uint32
	paceAt      int64
	gapAt       int64
	persistAt   int64
	persistBack int64
	lingerAt    int64
	lastActive  int64
	routeAt     int64

	// Summary.
	start     int64
	requests  int
	bytes     uint64
	responses int
	respTotal int64
	respMax   int64
	ended     bool
}

func (s *session) tsVal(now int64) uint32 {
	return s.grp.synTSVal + uint32((now-s.tsStart)/int64(time.Millisecond))
}

func (s *session) rtt() int64 {
	r := s.grp.rtt
	if r < minRTT {
		r = minRTT
	}
	return r
}

// handlePacket takes one captured client packet.
func (w *worker) handlePacket(p *capPkt, buf *pbuf, now int64) {
	isSyn := p.flags&wire.FlagSYN != 0 && p.flags&wire.FlagACK == 0
	g := w.groups[p.orig]
	if g != nil && g.dead {
		if !isSyn || (g.synSeen && g.synSeq == p.seq) {
			g.deadUntil = now + tombLinger
			w.e.stats.PacketsAfterEnd.Add(1)
			return
		}
		delete(w.groups, p.orig)
		g = nil
	}
	if g != nil && isSyn && (!g.synSeen || g.synSeq != p.seq) {
		// The client reused the tuple for a new connection. A copy whose
		// captured stream is complete (its FIN or RST is in) needs no more
		// captured packets: it finishes on its own tuple, which the new
		// connection's copies cannot take. Only copies still waiting for
		// captured data are lost.
		for _, s := range g.copies {
			if s != nil && !s.ended && !s.ctlSeen {
				w.abort(s, FatePortReused, now)
			}
		}
		if cur := w.groups[p.orig]; cur == g {
			delete(w.groups, p.orig)
		}
		g = nil
	}
	if g == nil {
		if !isSyn && (p.payLen == 0 || p.flags&(wire.FlagRST|wire.FlagSYN) != 0) {
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
	if g.synSeen && !g.rttDone {
		g.rttDone = true
		g.rtt = max(p.ts-g.synTs, 0)
		for _, s := range g.copies {
			if !s.haveLastAck && p.flags&wire.FlagACK != 0 {
				s.lastAck, s.haveLastAck = p.ack, true
			}
		}
	}
	g.observeOnline(p)
	if p.payLen == 0 && p.flags&(wire.FlagFIN|wire.FlagRST) == 0 {
		w.e.stats.PureACKsDropped.Add(1)
		return
	}
	for i := 0; i < len(g.copies); i++ {
		if s := g.copies[i]; !s.ended {
			w.capture(s, p, buf, now)
		}
	}
}

// observeOnline estimates the online server's response time from the
// captured client stream alone (the copier never sees the server's
// packets): from a request's capture to the client's first acknowledgement
// of new server bytes, less the client's round trip measured on the
// handshake (SYN to ACK; 0 for a connection joined mid-stream, which makes
// the figure an upper bound). An acknowledgement riding on the client's
// next request is not used: it would add the client's think time.
func (g *group) observeOnline(p *capPkt) {
	if p.flags&wire.FlagACK == 0 {
		return
	}
	if g.reqOut && seqGT(p.ack, g.reqAck) {
		g.reqOut = false
		if p.payLen == 0 {
			d := max(p.ts-g.reqTs-g.rtt, 0)
			g.onResponses++
			g.onRespTotal += d
			g.onRespMax = max(g.onRespMax, d)
		}
	}
	if p.payLen > 0 && !g.reqOut {
		g.reqOut, g.reqTs, g.reqAck = true, p.ts, p.ack
	}
}

// newGroup starts the sessions of a new captured connection. It returns
// nil when none started (the fates are recorded).
func (w *worker) newGroup(p *capPkt, buf *pbuf, now int64) *group {
	e := w.e
	cfg := &e.cfg
	g := &group{orig: p.orig, route: p.route}
	isSyn := p.flags&wire.FlagSYN != 0
	if isSyn {
		g.synSeen, g.synSeq, g.synTs, g.synWin = true, p.seq, p.ts, p.win
		g.synOptLen = copy(g.synOpts[:], buf.b[p.optOff:p.optOff+p.optLen])
		o := g.synOpts[:g.synOptLen]
		g.synTSVal, g.synTS = synTSVal(o)
		g.synWS = synHasWS(o)
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
	s.src = tcpipAddr(t.Client.Addr().As16(), s.v6)
	s.dst = tcpipAddr(t.Target.Addr().As16(), s.v6)
	if g.synSeen {
		s.iss = g.synSeq
		s.advWin = g.synWin
	} else {
		s.iss = p.seq - 1
		s.fake = true
		s.advWin = 65535
		w.e.stats.SynthesizedSYNs.Add(1)
	}
	s.sndUna, s.sndNxt, s.capNxt = s.iss, s.iss+1, s.iss+1
	s.mss = defaultMSS
	s.start, s.lastActive, s.routeAt, s.tsStart = now, now, now, now
	s.state = stSynSent
	s.rto = initialRTO
	s.rtoAt = now + s.rto
	s.synDeadline = now + int64(cfg.SynTimeout)
	w.sessions[t] = s
	w.e.stats.SessionsStarted.Add(1)
	w.sendSYN(s)
	w.reschedule(s, now)
	return s
}

// capture feeds one captured client segment (data, FIN or RST) to s.
func (w *worker) capture(s *session, p *capPkt, buf *pbuf, now int64) {
	e := w.e
	s.lastActive = now
	if now-s.routeAt > int64(e.routeTTL)/2 {
		s.routeAt = now
		e.rt.AddRoute(s.tuple, e.routeTTL)
	}
	if !s.fake && p.win != 0 && !s.fixedWin {
		s.advWin = p.win // the client's own (scaled as its SYN said)
	}
	if !s.haveLastAck && p.flags&wire.FlagACK != 0 {
		s.lastAck, s.haveLastAck = p.ack, true
	}
	sg := seg{seq: p.seq, ack: p.ack, buf: buf}
	if p.flags&wire.FlagRST != 0 {
		sg.rst = true
	} else {
		sg.n = uint32(p.payLen)
		sg.data = buf.b[p.payOff : p.payOff+p.payLen]
		sg.fin = p.flags&wire.FlagFIN != 0
	}
	n := int64(sg.n)
	if n > 0 && seqGT(sg.seq+sg.n, s.capNxt) && (s.buffered+n > e.cfg.SessionBuffer || e.mem.Load()+n > e.cfg.MemoryLimit) {
		e.stats.BufferDrops.Add(1)
		w.abort(s, FateBufferLimit, now)
		return
	}
	res, kept := s.insertSeg(sg)
	switch res {
	case insDup:
		e.stats.CaptureDups.Add(1)
	case insOutOrder:
		e.stats.CaptureOutOfOrder.Add(1)
	}
	if kept > 0 {
		e.mem.Add(int64(kept))
	}
	if s.hasGap() {
		if s.gapAt == 0 {
			s.gapAt = now + int64(e.cfg.GapTimeout)
			w.wheel.schedule(s, s.gapAt)
		}
	} else {
		s.gapAt = 0
	}
	w.pump(s, now)
	if !s.ended {
		w.reschedule(s, now)
	}
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
	s.lastActive = now
	switch s.state {
	case stSynSent:
		w.recordSynSent(s, r, now)
		return
	case stEstablished:
	default:
		return
	}
	if r.Flags&wire.FlagSYN != 0 {
		// A retransmitted SYN-ACK: our ACK was lost.
		w.sendAck(s, now)
		w.e.stats.ProbeACKs.Add(1)
		return
	}
	if r.Flags&wire.FlagRST != 0 {
		if s.finSent && s.sndUna == s.sndNxt {
			w.end(s, FateReplayed, now)
		} else {
			w.end(s, FateTargetReset, now)
		}
		return
	}
	if r.Flags&wire.FlagACK != 0 {
		w.onAck(s, r, now)
	}
	if s.tsOn && r.Opts.Has&wire.OptTimestamp != 0 && seqGEQ(r.Opts.TSVal, s.tsRecent) {
		s.tsRecent = r.Opts.TSVal
	}
	plen := uint32(r.PayloadLen)
	fin := r.Flags&wire.FlagFIN != 0
	finAck := false // the ACK of a new target FIN waits for our FIN
	switch {
	case plen > 0 || fin:
		end := r.Seq + plen
		if fin {
			end++
		}
		if !seqGT(end, s.rcvNxt) {
			// Old data, a retransmission or a 1-byte keepalive probe.
			w.sendAck(s, now)
			w.e.stats.ProbeACKs.Add(1)
			break
		}
		if plen > 0 {
			s.lastRespAt = now
			if !s.respFirst && s.requests > 0 {
				s.respFirst = true
				d := now - s.reqAt
				s.responses++
				s.respTotal += d
				s.respMax = max(s.respMax, d)
			}
		}
		s.ackPend += end - s.rcvNxt
		s.rcvNxt = end
		if fin && s.finSent {
			s.targetFin = true
			w.sendAck(s, now) // the last packet of the session
		} else if fin {
			// The client usually closes right after the server: our FIN
			// (sent by the pump below if its gate opened, else when
			// captured) carries this ACK, one packet instead of two.
			// Otherwise the ACK goes out after a delayed-ACK interval.
			s.targetFin = true
			finAck = true
		} else if s.ackPend >= uint32(2*s.mss) {
			w.sendAck(s, now)
		} else if s.ackAt == 0 {
			s.ackAt = now + min(s.rtt()/2+minRTT, maxDelAck)
		}
	case r.Seq == s.rcvNxt-1:
		// Zero-length keepalive probe.
		w.sendAck(s, now)
		w.e.stats.ProbeACKs.Add(1)
	}
	sent := w.emitted
	w.pump(s, now)
	if finAck && !s.ended && w.emitted == sent && (s.ackAt == 0 || s.ackAt > now+maxDelAck) {
		s.ackAt = now + maxDelAck
	}
	if !s.ended {
		w.checkDone(s, now)
	}
	if !s.ended {
		w.reschedule(s, now)
	}
}

func (w *worker) recordSynSent(s *session, r *wire.Record, now int64) {
	if r.Flags&wire.FlagRST != 0 {
		if r.Flags&wire.FlagACK != 0 && r.Ack == s.iss+1 {
			w.end(s, FateTargetReset, now)
		}
		return
	}
	if r.Flags&(wire.FlagSYN|wire.FlagACK) != wire.FlagSYN|wire.FlagACK || r.Ack != s.iss+1 {
		return
	}
	g := s.grp
	s.rcvNxt = r.Seq + 1
	s.sndUna = s.iss + 1
	s.sndWnd = uint32(r.Window)
	if r.Opts.Has&wire.OptWScale != 0 && g.synWS {
		s.sndShift = min(r.Opts.WScale, 14)
	} else if g.synWS {
		// The target refused window scaling: the client's scaled window
		// values would read as tiny windows. Advertise the maximum.
		s.fixedWin = true
		s.advWin = 65535
	}
	if r.Opts.Has&wire.OptMSS != 0 && r.Opts.MSS > 0 {
		s.mss = int(r.Opts.MSS)
	}
	if r.Opts.Has&wire.OptTimestamp != 0 && g.synTS && g.synSeen {
		s.tsOn = true
		s.tsRecent = r.Opts.TSVal
		s.mss -= 12
	}
	s.mss = max(s.mss, 64)
	s.state = stEstablished
	if !s.synRetx {
		s.sampleRTT(now - s.start)
	}
	s.rto, s.rtoAt, s.retries = s.estimatedRTO(), 0, 0
	s.respBase = s.rcvNxt
	s.reqAt = now
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

// onAck applies the target's acknowledgement and window.
func (w *worker) onAck(s *session, r *wire.Record, now int64) {
	if seqGT(r.Ack, s.sndUna) && seqLEQ(r.Ack, s.sndNxt) {
		s.sndUna = r.Ack
		if freed := s.freeAcked(s.sndUna); freed > 0 {
			w.e.mem.Add(-freed)
		}
		s.retries = 0
		s.dupAcks = 0
		if s.rttAt != 0 && seqGEQ(r.Ack, s.rttSeq) {
			s.sampleRTT(now - s.rttAt)
			s.rttAt = 0
		}
		s.rto = s.estimatedRTO()
		if s.sndUna == s.sndNxt {
			s.rtoAt = 0
		} else {
			s.rtoAt = now + s.rto
		}
	} else if r.Ack == s.sndUna && s.sndNxt != s.sndUna && r.PayloadLen == 0 &&
		r.Flags&(wire.FlagFIN|wire.FlagSYN) == 0 && uint32(r.Window)<<s.sndShift == s.sndWnd {
		// A duplicate ACK: the third triggers a fast retransmit.
		if s.dupAcks++; s.dupAcks == 3 {
			w.e.stats.FastRetransmits.Add(1)
			w.resend(s, now)
		}
	}
	if seqGEQ(r.Ack, s.sndUna) {
		wnd := uint32(r.Window) << s.sndShift
		if wnd > 0 {
			s.persistAt, s.persistBack = 0, 0
		}
		s.sndWnd = wnd
	}
}

// checkDone ends a session whose both directions are closed.
func (w *worker) checkDone(s *session, now int64) {
	if !s.finSent || s.sndUna != s.sndNxt {
		return
	}
	if s.targetFin {
		w.end(s, FateReplayed, now)
		return
	}
	if s.lingerAt == 0 {
		s.lingerAt = now + finLinger
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
	if freed := s.freeAll(); freed > 0 {
		e.mem.Add(-freed)
	}
	s.segs = nil
	delete(w.sessions, s.tuple)
	e.rt.DelRoute(s.tuple)
	e.alloc.release(s.tuple, now)
	e.stats.SessionsEnded.Add(1)
	g := s.grp
	w.recordFate(&SessionSummary{
		Tuple: s.tuple, Original: g.orig, Copy: s.copy, Fate: f,
		Requests: s.requests, Bytes: s.bytes, Responses: s.responses,
		RespTimeTotal: time.Duration(s.respTotal), RespTimeMax: time.Duration(s.respMax),
		OnlineResponses: g.onResponses, OnlineRespTotal: time.Duration(g.onRespTotal), OnlineRespMax: time.Duration(g.onRespMax),
		Start: time.Unix(0, s.start), End: time.Unix(0, now),
	})
	if g.alive--; g.alive == 0 && !g.dead {
		if cur := w.groups[g.orig]; cur == g || cur == nil {
			w.tombstone(g, now)
		}
	}
}

// reschedule files s on the wheel at its earliest deadline.
func (w *worker) reschedule(s *session, now int64) {
	at := s.lastActive + int64(w.e.cfg.IdleTimeout)
	for _, d := range [...]int64{s.rtoAt, s.ackAt, s.paceAt, s.gapAt, s.persistAt, s.lingerAt} {
		if d != 0 && d < at {
			at = d
		}
	}
	if s.state == stSynSent && s.synDeadline < at {
		at = s.synDeadline
	}
	w.wheel.schedule(s, max(at, now))
}
