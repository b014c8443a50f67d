package copier

import (
	"github.com/replaygw/replaygw/protocol"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// The session's protocol (package protocol), for routes whose Protocol
// reads the streams. Sessions of the other routes (nil or protocol/tcp)
// have s.proto nil and never reach this file: their bytes go as captured
// and pacing uses the ack heuristic.
//
// The offset map. A protocol that reads the client stream (NeedsClient)
// may send the target other bytes than the client sent: the session then
// keeps two buffers. ps.raw is the captured client stream in the client's
// sequence space: captured segments are reassembled there (duplicates
// trimmed, holes waited for) and each byte is handed to Client once, in
// order, then freed. What the protocol returns is appended to s.cap, the
// stream in the target's sequence space, as segments of its own; the
// client's FIN or RST follows once the protocol has taken every byte
// before it. Everything downstream (pump, MSS split, window,
// retransmission, the target's ACKs) works on s.cap unchanged, so the
// target's ACKs need no translation, a retransmission resends the
// rewritten bytes identically, and the distance between the two sequence
// spaces is simply ps.raw.nxt - s.cap.nxt at any point.
//
// The online server's responses (NeedsOnline) arrive as captured packets
// of the server->client direction (Engine.HandlePacket matches them by
// their source) and are reassembled in ps.onl the same way; the target's
// (NeedsTarget) come as payload in the gateway's records, which the lease
// asks for at full segment size (LeasePayload).
//
// Marks: a RequestStart makes the segment holding the request's first
// byte a request boundary for pacing (at the offsets RequestOffsets gives,
// for protocols that report several); a ResponseComplete releases the next
// request at once. Exchanges are taken after every call, stamped with the
// time their request's first byte was sent and handed to
// Config.OnExchange. A Fate ends the session (FateProtocol, RST to the
// target).

// protoStreams is the stream state of a protocol session.
type protoStreams struct {
	needs  protocol.Needs
	raw    captured // NeedsClient: captured client bytes not yet taken by Client
	onl    captured // NeedsOnline: online server bytes not yet taken by Online
	onlOn  bool     // onl.nxt is known (its SYN-ACK or first data seen)
	cliEnd bool     // the client's FIN/RST is in s.cap: nothing more can follow it
	// cliEndCalled: End(SideClient) was called (the FIN/RST waits in
	// ps.raw while the protocol holds client bytes back).
	cliEndCalled bool
	onlEnd       bool         // End(SideOnline) was called
	tgtEnd       bool         // End(SideTarget) was called
	lastAck      seqnum.Value // online ack of the client bytes last handed over
	// sent are the first-send times of requests whose exchange is not
	// taken yet: sent[i] is request sentBase+i.
	sent      []int64
	sentBase  int
	exchanges int
	fate      *protocol.Fate
}

// maxSentTimes bounds ps.sent for a protocol that reports no exchanges.
const maxSentTimes = 1024

// maxExchangesPerCall bounds the exchanges taken after one protocol call.
const maxExchangesPerCall = 4096

// requestOffsets is implemented by protocols that can report where, in the
// bytes a call returned, each request starts (several pipelined requests
// in one call).
type requestOffsets interface{ RequestOffsets() []int }

// holder is implemented by protocols that may hold client bytes back,
// waiting for the target: Holding reports that bytes already given to
// Client (or owed to the target's auth challenge) are still to be sent.
// The client's FIN or RST is not queued while it is true.
type holder interface{ Holding() bool }

// sentNoter is implemented by protocols that pair the target's bytes with
// requests by when those went out (tcp.Compare): Sent reports that
// request n's first byte (n counted from 0, as Exchange.Request) was just
// sent to the target for the first time.
type sentNoter interface{ Sent(n int, at int64) }

// routeNeeds asks each route's protocol what it reads, once, with a
// throw-away session.
func routeNeeds(routes []Route) []protocol.Needs {
	n := make([]protocol.Needs, len(routes))
	for i, rt := range routes {
		if rt.Protocol == nil {
			continue
		}
		if p, err := rt.Protocol(protocol.Start{}); err == nil && p != nil {
			n[i] = p.Needs()
		}
	}
	return n
}

// flaggedLeases reports whether some route's sessions take their leases
// with flags (whole payloads).
func (e *Engine) flaggedLeases() bool {
	for i := range e.needs {
		if e.leaseFlags(i) != 0 {
			return true
		}
	}
	return false
}

// leaseFlags are the lease options of route's sessions.
func (e *Engine) leaseFlags(route int) LeaseFlags {
	if e.needs[route]&protocol.NeedsTarget != 0 {
		return LeasePayload
	}
	return 0
}

// openProtocol gives s its route's protocol state. It reports false when
// the protocol refused the session (s is then ended).
func (w *worker) openProtocol(s *session, now int64) bool {
	g := s.grp
	rt := &w.e.cfg.Routes[g.route]
	s.proto, s.ps = nil, nil
	if rt.Protocol == nil || w.e.needs[g.route] == 0 {
		return true
	}
	p, err := rt.Protocol(protocol.Start{Client: g.orig.Client, Midstream: !g.syn.seen})
	if err != nil || p == nil {
		f, ok := err.(*protocol.Fate)
		if !ok {
			f = &protocol.Fate{Code: "protocol", Detail: "no protocol state"}
			if err != nil {
				f.Detail = err.Error()
			}
		}
		s.ps = &protoStreams{fate: f}
		w.logFate(s, f)
		w.end(s, FateProtocol, now) // before its SYN: nothing to reset
		return false
	}
	s.proto = p
	s.ps = &protoStreams{needs: p.Needs()}
	s.ps.raw.nxt = s.cap.nxt
	return true
}

// rewrites reports whether the target receives the protocol's output
// rather than the captured bytes.
func (s *session) rewrites() bool { return s.ps != nil && s.ps.needs&protocol.NeedsClient != 0 }

// protoCapture takes a captured client segment of a rewriting session:
// reassembled in ps.raw, then what became contiguous goes through Client.
func (w *worker) protoCapture(s *session, sg seg, at, now int64) insertResult {
	ps := s.ps
	from := ps.raw.nxt
	res, kept := ps.raw.insert(sg)
	w.e.mem.Add(int64(kept))
	if ps.raw.nxt == from && !(ps.raw.ctlSeen && !ps.cliEnd) {
		return res
	}
	for q := from; q.LessThan(ps.raw.nxt) && !s.ended; {
		i := ps.raw.find(q)
		if i < 0 {
			break
		}
		g := &ps.raw.segs[i]
		if g.n == 0 {
			break
		}
		ps.lastAck = g.ack
		out, m := s.proto.Client(w.protoOut[:0], g.data[g.seq.Size(q):], at)
		w.protoSend(s, out, m, now)
		q = g.end()
	}
	if freed := ps.raw.freeAcked(ps.raw.nxt); freed > 0 {
		w.e.mem.Add(-freed)
	}
	w.protoClientEnd(s, at, now)
	w.protoAfter(s, now)
	return res
}

// protoClientEnd queues the client's FIN or RST in s.cap once the
// protocol has taken every byte before it (End(SideClient) is called
// then, once) and holds none of them back: a protocol that waits for the
// target (a login still being answered, commands held for it) sends them
// before the target sees the end. Called after each protocol call.
func (w *worker) protoClientEnd(s *session, at, now int64) {
	ps := s.ps
	if s.ended || ps.cliEnd || !ps.raw.ctlSeen || ps.raw.nxt != ps.raw.ctlSeq {
		return
	}
	if !ps.cliEndCalled {
		ps.cliEndCalled = true
		out, m := s.proto.End(w.protoOut[:0], protocol.SideClient, at)
		w.protoSend(s, out, m, now)
		if s.ended {
			return
		}
	}
	if h, ok := s.proto.(holder); ok && h.Holding() {
		return // the idle timeout ends a session whose protocol never lets go
	}
	ps.cliEnd = true
	s.cap.insert(seg{seq: s.cap.nxt, ack: ps.lastAck, fin: !ps.raw.ctlRST, rst: ps.raw.ctlRST})
}

// protoSend appends the protocol's output to the stream sent to the target
// (s.cap), cut at the request starts the marks report.
func (w *worker) protoSend(s *session, out []byte, m protocol.Mark, now int64) {
	if m&protocol.ResponseComplete != 0 {
		s.pace.respDone = true
	}
	if len(out) == 0 || s.ended {
		w.protoOut = out[:0]
		return
	}
	ps := s.ps
	if ps.cliEnd {
		// The client's FIN is queued: the target cannot take bytes after
		// it. Counted, not sent.
		w.e.stats.ProtoBytesAfterEnd.Add(uint64(len(out)))
		w.protoOut = out[:0]
		return
	}
	if s.cap.buffered+int64(len(out)) > w.e.cfg.SessionBuffer || w.e.mem.Load()+int64(len(out)) > w.e.cfg.MemoryLimit {
		w.e.stats.BufferDrops.Add(1)
		w.protoOut = out[:0]
		w.abort(s, FateBufferLimit, now)
		return
	}
	var offs []int
	if m&protocol.RequestStart != 0 {
		offs = []int{0}
		if ro, ok := s.proto.(requestOffsets); ok {
			offs = ro.RequestOffsets()
		}
	}
	start, req := 0, false
	for _, o := range offs {
		if o <= start || o >= len(out) {
			req = req || o == 0
			continue
		}
		w.protoAppend(s, out[start:o], req)
		start, req = o, true
	}
	w.protoAppend(s, out[start:], req)
	w.protoOut = out[:0]
}

// protoAppend stores p as the next segment of s.cap.
func (w *worker) protoAppend(s *session, p []byte, req bool) {
	if len(p) == 0 {
		return
	}
	buf := getPbuf(p)
	_, kept := s.cap.insert(seg{seq: s.cap.nxt, n: seqnum.Size(len(p)), ack: s.ps.lastAck, data: buf.b, buf: buf, req: req})
	buf.unref() // the segment holds its own reference
	w.e.mem.Add(int64(kept))
	w.e.stats.ProtoBytesOut.Add(uint64(len(p)))
}

// protoOnline takes a captured server->client segment of a session whose
// protocol reads the online server's responses.
func (w *worker) protoOnline(s *session, p *capPkt, buf *pbuf, now int64) {
	ps := s.ps
	if p.flags.Contains(header.TCPFlagSyn | header.TCPFlagAck) {
		if !ps.onlOn {
			ps.onl.nxt, ps.onlOn = p.seq+1, true
		}
		return
	}
	if buf == nil {
		return // a pure ACK (no payload, FIN or RST: the engine keeps no buffer): nothing for the protocol
	}
	sg := capturedSeg(p, buf)
	if !ps.onlOn {
		if sg.n == 0 {
			return
		}
		ps.onl.nxt, ps.onlOn = p.seq, true
	}
	if ps.onl.buffered+int64(sg.n) > w.e.cfg.SessionBuffer {
		w.e.stats.OnlineDrops.Add(1)
		return
	}
	from := ps.onl.nxt
	_, kept := ps.onl.insert(sg)
	w.e.mem.Add(int64(kept))
	for q := from; q.LessThan(ps.onl.nxt) && !s.ended; {
		i := ps.onl.find(q)
		if i < 0 {
			break
		}
		g := &ps.onl.segs[i]
		if g.n == 0 {
			break
		}
		out, m := s.proto.Online(w.protoOut[:0], g.data[g.seq.Size(q):], p.ts)
		w.protoSend(s, out, m, now)
		q = g.end()
	}
	if freed := ps.onl.freeAcked(ps.onl.nxt); freed > 0 {
		w.e.mem.Add(-freed)
	}
	if !s.ended && ps.onl.ctlSeen && !ps.onlEnd && ps.onl.nxt == ps.onl.ctlSeq {
		ps.onlEnd = true
		out, m := s.proto.End(w.protoOut[:0], protocol.SideOnline, p.ts)
		w.protoSend(s, out, m, now)
	}
	if ps.needs&protocol.NeedsClient != 0 {
		w.protoClientEnd(s, p.ts, now)
	}
	w.protoAfter(s, now)
	if !s.ended {
		w.pump(s, now)
	}
	if !s.ended {
		w.reschedule(s, now)
	}
}

// protoTarget hands the target's new response bytes to the protocol.
// want is how many new bytes the segment brought; a record carrying fewer
// (the gateway cut the payload) leaves the protocol a hole it cannot read
// past, which ends the session.
func (w *worker) protoTarget(s *session, payload []byte, want int, fin bool, now int64) {
	ps := s.ps
	if ps.needs&protocol.NeedsTarget == 0 {
		return
	}
	if len(payload) < want {
		w.e.stats.TargetPayloadShort.Add(1)
		w.protoFailed(s, &protocol.Fate{Code: "target_payload_short",
			Detail: "the gateway sent part of the target's payload only (does it support full-payload leases?)"}, now)
		return
	}
	if len(payload) > 0 {
		out, m := s.proto.Target(w.protoOut[:0], payload, now)
		w.protoSend(s, out, m, now)
	}
	if fin && !ps.tgtEnd && !s.ended {
		ps.tgtEnd = true
		out, m := s.proto.End(w.protoOut[:0], protocol.SideTarget, now)
		w.protoSend(s, out, m, now)
	}
	if ps.needs&protocol.NeedsClient != 0 {
		w.protoClientEnd(s, now, now)
	}
	w.protoAfter(s, now)
}

// protoSent notes that a request's first byte was just sent for the
// first time.
func (w *worker) protoSent(s *session, now int64) {
	ps := s.ps
	if len(ps.sent) == maxSentTimes {
		copy(ps.sent, ps.sent[1:])
		ps.sent = ps.sent[:len(ps.sent)-1]
		ps.sentBase++
	}
	ps.sent = append(ps.sent, now)
	if n, ok := s.proto.(sentNoter); ok {
		n.Sent(ps.sentBase+len(ps.sent)-1, now)
	}
}

// protoAfter takes the finished exchanges and acts on a fate.
func (w *worker) protoAfter(s *session, now int64) {
	ps := s.ps
	if s.proto == nil {
		return
	}
	x := &w.exch
	// Bounded: a protocol that always reports one must not stall the worker.
	for range maxExchangesPerCall {
		*x = protocol.Exchange{}
		if !s.proto.Exchange(x) {
			break
		}
		ps.exchanges++
		w.e.stats.Exchanges.Add(1)
		if k := x.Request - ps.sentBase; k >= 0 && k < len(ps.sent) {
			x.TargetSent = ps.sent[k]
			n := copy(ps.sent, ps.sent[k+1:])
			ps.sent = ps.sent[:n]
			ps.sentBase = x.Request + 1
		}
		if f := w.e.cfg.OnExchange; f != nil {
			f(w.exchangeSource(s), x)
		}
	}
	if f := s.proto.Fate(); f != nil && !s.ended {
		w.protoFailed(s, f, now)
	}
}

// protoFailed ends s for the protocol's reason.
func (w *worker) protoFailed(s *session, f *protocol.Fate, now int64) {
	s.ps.fate = f
	w.logFate(s, f)
	if s.state == stSynSent || s.state == stEstablished {
		w.abort(s, FateProtocol, now)
		return
	}
	w.end(s, FateProtocol, now)
}

func (w *worker) logFate(s *session, f *protocol.Fate) {
	w.e.log.Warn("session not replayable", "fate", f.Code, "detail", f.Detail,
		"client", s.grp.orig.Client.String(), "online", s.grp.orig.Target.String(), "copy", s.copy)
}

func (s *session) protoFate() *protocol.Fate {
	if s.ps == nil {
		return nil
	}
	return s.ps.fate
}

func (s *session) protoExchanges() int {
	if s.ps == nil {
		return 0
	}
	return s.ps.exchanges
}

// exchangeSource describes s for Config.OnExchange.
func (w *worker) exchangeSource(s *session) ExchangeSource {
	g := s.grp
	return ExchangeSource{Route: g.route, Conn: g.id, Copy: s.copy, Noise: s.noise,
		Client: g.orig.Client, Target: s.tuple.Target}
}

// freeProto releases a session's protocol buffers.
func (w *worker) freeProto(s *session) {
	if s.ps == nil {
		return
	}
	freed := s.ps.raw.freeAll() + s.ps.onl.freeAll()
	if freed > 0 {
		w.e.mem.Add(-freed)
	}
}
