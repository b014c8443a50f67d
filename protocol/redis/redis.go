// Package redis is the Redis protocol of a route (RESP2 and RESP3): it
// finds command and reply boundaries so that the copier paces each
// command after the target's reply to the previous one, and, on a
// compared route, hands out each command with both replies.
//
// Data flow, per session:
//
//	captured client bytes -> Client: unchanged to out; command Cutter -> RequestStart
//	                                  | command name -> Exchange Kind (and Key)
//	                                  v
//	target replies -------> Target: reply Cutter -> ResponseComplete -> Exchange
//	online replies -------> Online (compared routes): reply Cutter ----^
//	end of a stream ------> End: commands still due get no reply
//
// The bytes are never changed: Client appends exactly what it was given.
// Framing is compare/resp's Cutter (no value is built, no allocation per
// command on an uncompared route); requests and replies are paired by
// protocol/pairing. A compared route keeps each command and reply, cut to
// Options.Keep, for the comparison at the gateway (compare.RESP).
//
// Replies pair with commands in order, one each. A top-level push (>) is
// out of band: it belongs to no command and is skipped. A command after
// which replies no longer follow commands one for one (SUBSCRIBE,
// PSUBSCRIBE, SSUBSCRIBE, MONITOR, SYNC, PSYNC) ends the framing once its
// first reply is in: the session carries on without marks or exchanges.
// CLIENT REPLY OFF|SKIP is not followed (its name is CLIENT): a session
// that uses it pairs replies with the wrong commands.
//
// A capture that began inside the session (Start.Midstream) resyncs the
// command stream at the first command array (Cutter.Resync) and skips
// online replies until then; an online stream that then cannot be framed
// stops being compared for that session (its exchanges go out with the
// online reply as far as it came) instead of ending the replay.
//
// A stream that is not RESP (Cutter.Err) otherwise ends the replay with
// the fate "redis_parse" naming the stream and the offset; what Client
// was given in that call still goes out unchanged.
package redis

import (
	"bytes"

	"github.com/replaygw/replaygw/compare/resp"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/pairing"
)

// FateParse: a stream of the session is not RESP.
const FateParse = "redis_parse"

// New returns the constructor of Redis sessions for a route.
func New(o protocol.Options) protocol.New {
	return func(st protocol.Start) (protocol.Protocol, error) {
		s := &session{}
		s.Queue.Init(o)
		s.req.Init(true)
		s.online.Init(false)
		s.target.Init(false)
		s.midstream = st.Midstream
		if s.midstream {
			s.req.Resync()
		}
		return s, nil
	}
}

// replySide is one reply stream.
type replySide struct {
	resp.Cutter
	typ  byte // type byte of the reply in progress
	push bool // the reply in progress is a push: no command's
}

type session struct {
	pairing.Queue // Needs and Fate
	req           resp.Cutter
	online        replySide
	target        replySide
	// stopped: a command after which replies do not follow commands one
	// for one was sent; framing ends once the replies before it are in.
	stopped bool
	// midstream: the capture began inside the session.
	midstream bool
	// onlineLost: the online stream of a midstream session could not be
	// framed; it is no longer compared.
	onlineLost bool
	starts     []int // RequestOffsets of the last Client call
}

// RequestOffsets are the offsets, in the bytes the last Client call
// appended, where commands begin. On a compared route the engine then
// sends each pipelined command as a segment of its own, so that each is
// paced and timed (its Exchange.TargetSent) as one request; elsewhere
// the call's bytes are one request start at 0, and a pipelined batch goes
// out as captured, in as few packets. Valid until the next call.
func (s *session) RequestOffsets() []int { return s.starts }

// maxStarts bounds the command starts one Client call reports (more
// commands in one call go out in the last one's segment).
const maxStarts = 4096

// Answered counts the commands whose target reply is complete: a Redis
// server replies to a connection's commands in order, so the engine
// pipelines them (protocol.Pipeliner).
func (s *session) Answered() int { return s.Queue.Due(protocol.SideTarget) }

// Client passes the bytes unchanged and marks each command's start.
func (s *session) Client(out, p []byte, at int64) ([]byte, protocol.Mark) {
	out = append(out, p...)
	s.starts = s.starts[:0]
	if !s.Queue.Call() {
		return out, 0
	}
	var m protocol.Mark
	for pos := 0; pos < len(p); {
		opaque := s.req.Opaque()
		n, ev := s.req.Step(p[pos:])
		switch {
		case ev&resp.Start == 0 || len(s.starts) >= maxStarts:
		case s.Queue.Compare():
			s.starts = append(s.starts, pos)
		case len(s.starts) == 0:
			s.starts = append(s.starts, 0) // the call's bytes as one segment, as captured
		}
		m |= s.Queue.Client(p[pos:pos+n], ev&resp.Start != 0, opaque, at)
		if ev&resp.End != 0 {
			s.command()
		}
		pos += n
	}
	s.Queue.Check(FateParse, "client", s.req.Err())
	return out, m
}

// command notes the name of the command that just ended.
func (s *session) command() {
	k, stop := kind(s.req.Name(), s.Queue.Compare())
	if r := s.Queue.Rec(s.Queue.Started() - 1); r != nil {
		r.Kind = k
	}
	if stop {
		s.stopped = true
		s.req.Stop()
	}
}

// Online follows the online server's replies (compared routes).
func (s *session) Online(out, p []byte, at int64) ([]byte, protocol.Mark) {
	if !s.Queue.Call() || !s.Queue.Compare() || s.onlineLost || (s.midstream && s.Queue.Started() == 0) {
		return out, 0
	}
	s.replies(&s.online, protocol.SideOnline, p, at)
	if err := s.online.Err(); err != nil {
		if s.midstream {
			s.onlineLost = true
		} else {
			s.Queue.Fail(FateParse, "online", err)
		}
	}
	return out, 0
}

// Target follows the target's replies: ResponseComplete for each.
func (s *session) Target(out, p []byte, at int64) ([]byte, protocol.Mark) {
	if !s.Queue.Call() {
		return out, 0
	}
	m := s.replies(&s.target, protocol.SideTarget, p, at)
	s.Queue.Check(FateParse, "target", s.target.Err())
	return out, m
}

func (s *session) replies(rs *replySide, side protocol.Side, p []byte, at int64) protocol.Mark {
	var m protocol.Mark
	for len(p) > 0 {
		if s.stopped && s.Queue.Due(side) >= s.Queue.Started() {
			rs.Stop() // the stopping command has its reply
		}
		opaque := rs.Opaque()
		n, ev := rs.Step(p)
		if ev&resp.Start != 0 {
			rs.typ, rs.push = p[0], p[0] == '>'
		}
		if !opaque && !rs.push {
			s.Queue.Response(side, p[:n], at)
		}
		if ev&resp.End != 0 {
			if !rs.push {
				m |= s.Queue.Complete(side, int(rs.typ))
			}
			rs.push = false
		}
		p = p[n:]
	}
	return m
}

// End gives the commands still due on a reply stream that ended no reply
// (a reply cut by the end counts as that command's, with status 0).
func (s *session) End(out []byte, side protocol.Side, _ int64) ([]byte, protocol.Mark) {
	if !s.Queue.Call() || side == protocol.SideClient || (side == protocol.SideOnline && !s.Queue.Compare()) {
		return out, 0
	}
	return out, s.Queue.Unanswered(side)
}

// Exchange hands out the oldest command the target has answered (and, on
// a compared route, the online server too, or the online stream lags by
// more than pairing.MaxWaiting commands or is no longer compared).
func (s *session) Exchange(x *protocol.Exchange) bool {
	s.Queue.Recycle()
	r := s.Queue.Next(x, s.onlineLost)
	if r == nil {
		return false
	}
	if s.Queue.Compare() {
		x.Key = x.Kind
		x.Same = r.On.Done && r.On.Status == r.Tg.Status && r.On.Bytes == r.Tg.Bytes && bytes.Equal(r.On.Data, r.Tg.Data)
	}
	return true
}

var _ protocol.Protocol = (*session)(nil)
