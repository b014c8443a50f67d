// Package http is the HTTP/1.x protocol of a route: it finds request and
// response boundaries so that the copier paces each request after the
// target's answer to the previous one, and, on a compared route, hands
// out each request with both responses.
//
// Data flow, per session:
//
//	captured client bytes -> Client: unchanged to out; request Cutter -> RequestStart
//	                                  | method of each request (HEAD, CONNECT)
//	                                  v
//	target responses -----> Target: response Cutter -> ResponseComplete -> Exchange
//	online responses -----> Online (compared routes): response Cutter ----^
//	end of a stream ------> End: completes a body that runs to the close
//
// The bytes are never changed: Client appends exactly what it was given.
// Framing is compare/httpframe's Cutter (no net/http parse, no
// allocation per request on an uncompared route); a compared route keeps
// each request and response, cut to Options.Keep, for the comparison at
// the gateway, which parses them with httpframe's framers. Requests and
// responses are paired by protocol/pairing.
//
// A stream that is not HTTP/1.x (Cutter.Err) ends the replay with the
// fate "http_parse" naming the stream and the offset; what Client was
// given in that call still goes out unchanged. After an upgrade (101,
// CONNECT, a request with Upgrade) the session carries on without marks.
package http

import (
	"bytes"

	"github.com/replaygw/replaygw/compare"
	"github.com/replaygw/replaygw/compare/httpframe"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/pairing"
)

// FateParse: a stream of the session is not HTTP/1.x.
const FateParse = "http_parse"

// New returns the constructor of HTTP sessions for a route.
func New(o protocol.Options) protocol.New {
	return func(st protocol.Start) (protocol.Protocol, error) {
		s := &session{}
		s.Queue.Init(o)
		s.req.Init(false)
		s.target.cut.Init(true)
		s.online.cut.Init(true)
		s.online.side, s.target.side = protocol.SideOnline, protocol.SideTarget
		if st.Midstream {
			s.midstream = true
			s.req.Resync()
			s.online.cut.Resync()
		}
		return s, nil
	}
}

// respSide is one response stream.
type respSide struct {
	cut  httpframe.Cutter
	side protocol.Side
}

type session struct {
	pairing.Queue // Needs and Fate
	req           httpframe.Cutter
	online        respSide
	target        respSide
	known         int // requests whose method the response cutters were told
	// midstream: the capture began inside the session; online bytes
	// before the first request seen answer earlier ones.
	midstream bool
}

// Client passes the bytes unchanged and marks each request's start.
func (s *session) Client(out, p []byte, at int64) ([]byte, protocol.Mark) {
	out = append(out, p...)
	if !s.Queue.Call() {
		return out, 0
	}
	var m protocol.Mark
	for len(p) > 0 {
		opaque := s.req.Opaque()
		n, ev := s.req.Step(p)
		m |= s.Queue.Client(p[:n], ev&httpframe.Start != 0, opaque, at)
		for s.known < s.req.Requests() {
			s.known++
			if r := s.Queue.Rec(s.known - 1); r != nil {
				r.Kind = s.req.Method().String()
			}
			s.target.cut.Expect(s.req.Method())
			if s.Queue.Compare() {
				s.online.cut.Expect(s.req.Method())
			}
		}
		p = p[n:]
	}
	s.Queue.Check(FateParse, "client", s.req.Err())
	return out, m
}

// Online follows the online server's responses (compared routes).
func (s *session) Online(out, p []byte, at int64) ([]byte, protocol.Mark) {
	if !s.Queue.Call() || !s.Queue.Compare() || (s.midstream && s.Queue.Started() == 0) {
		return out, 0
	}
	s.response(&s.online, p, at)
	s.Queue.Check(FateParse, "online", s.online.cut.Err())
	return out, 0
}

// Target follows the target's responses: ResponseComplete for each.
func (s *session) Target(out, p []byte, at int64) ([]byte, protocol.Mark) {
	if !s.Queue.Call() {
		return out, 0
	}
	m := s.response(&s.target, p, at)
	s.Queue.Check(FateParse, "target", s.target.cut.Err())
	return out, m
}

func (s *session) response(rs *respSide, p []byte, at int64) protocol.Mark {
	var m protocol.Mark
	for len(p) > 0 {
		opaque := rs.cut.Opaque()
		n, ev := rs.cut.Step(p)
		if !opaque {
			s.Queue.Response(rs.side, p[:n], at)
		}
		if ev&httpframe.End != 0 {
			m |= s.complete(rs)
		}
		p = p[n:]
	}
	return m
}

// complete ends the response in progress on rs.
func (s *session) complete(rs *respSide) protocol.Mark {
	return s.Queue.Complete(rs.side, rs.cut.Status())
}

// End completes a response whose body runs to the end of its stream, and
// any response still due on a stream that ended.
func (s *session) End(out []byte, side protocol.Side, at int64) ([]byte, protocol.Mark) {
	if !s.Queue.Call() || side == protocol.SideClient || (side == protocol.SideOnline && !s.Queue.Compare()) {
		return out, 0
	}
	rs := &s.online
	if side == protocol.SideTarget {
		rs = &s.target
	}
	var m protocol.Mark
	if rs.cut.Close()&httpframe.End != 0 {
		m |= s.complete(rs)
	}
	// Requests still due get no answer on this stream.
	return out, m | s.Queue.Unanswered(side)
}

// Exchange hands out the oldest request the target has answered (and, on
// a compared route, the online server too, or the online stream lags by
// more than pairing.MaxWaiting requests).
func (s *session) Exchange(x *protocol.Exchange) bool {
	s.Queue.Recycle()
	r := s.Queue.Next(x, false)
	if r == nil {
		return false
	}
	if s.Queue.Compare() {
		method, target := requestLine(r.Req)
		if x.Kind == "" {
			x.Kind = method
		}
		if method != "" {
			x.Key = compare.EndpointKey(method + " " + target)
		}
		x.Same = r.On.Done && r.On.Status == r.Tg.Status
	}
	return true
}

// requestLine returns the method and target of a request's first line.
func requestLine(req []byte) (method, target string) {
	if i := bytes.IndexByte(req, '\n'); i >= 0 {
		req = req[:i]
	}
	m, rest, ok := bytes.Cut(req, []byte{' '})
	if !ok {
		return "", ""
	}
	if i := bytes.LastIndexByte(rest, ' '); i >= 0 {
		rest = rest[:i]
	}
	return string(m), string(rest)
}

var _ protocol.Protocol = (*session)(nil)
