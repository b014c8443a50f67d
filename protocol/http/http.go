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
// the gateway, which parses them with httpframe's framers.
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
)

// FateParse: a stream of the session is not HTTP/1.x.
const FateParse = "http_parse"

// maxWaiting bounds the requests an online stream may lag behind the
// target by: older ones are handed out with the online response as far
// as it came.
const maxWaiting = 256

// New returns the constructor of HTTP sessions for a route.
func New(o protocol.Options) protocol.New {
	if o.Keep <= 0 {
		o.Keep = protocol.DefaultKeep
	}
	return func(st protocol.Start) (protocol.Protocol, error) {
		s := &session{opt: o}
		s.req.Init(false)
		s.target.cut.Init(true)
		s.online.cut.Init(true)
		if st.Midstream {
			s.midstream = true
			s.req.Resync()
			s.online.cut.Resync()
		}
		return s, nil
	}
}

// record is one request on its way to an Exchange.
type record struct {
	n           int
	method      httpframe.Method
	clientBytes int
	on, tg      half
	req         []byte
	truncated   bool
	onlineSent  int64
}

// half is one response of a record.
type half struct {
	bytes       int
	data        []byte
	first, last int64
	done        bool
	status      int
}

// respSide is one response stream.
type respSide struct {
	cut httpframe.Cutter
	cur int // request number of the response in progress
}

type session struct {
	opt    protocol.Options
	req    httpframe.Cutter
	online respSide
	target respSide
	recs   []*record // oldest first; recs[0].n is the next exchange
	free   []*record
	handed *record // given out by the last Exchange: recycled at the next call
	nreq   int     // requests started
	known  int     // requests whose method the response cutters were told
	fate   *protocol.Fate
	// midstream: the capture began inside the session; online bytes
	// before the first request seen answer earlier ones.
	midstream bool
}

func (s *session) Needs() protocol.Needs {
	if s.opt.Compare {
		return protocol.NeedsClient | protocol.NeedsOnline | protocol.NeedsTarget
	}
	return protocol.NeedsClient | protocol.NeedsTarget
}

func (s *session) Fate() *protocol.Fate { return s.fate }

func (s *session) recycle() {
	if r := s.handed; r != nil {
		s.handed = nil
		*r = record{req: r.req[:0], on: half{data: r.on.data[:0]}, tg: half{data: r.tg.data[:0]}}
		s.free = append(s.free, r)
	}
}

// rec returns the record of request n, making it (and any before it)
// when a response runs ahead of the client stream.
func (s *session) rec(n int) *record {
	for len(s.recs) == 0 || s.recs[len(s.recs)-1].n < n {
		next := n
		if len(s.recs) > 0 {
			next = s.recs[len(s.recs)-1].n + 1
		}
		var r *record
		if k := len(s.free); k > 0 {
			r, s.free = s.free[k-1], s.free[:k-1]
		} else {
			r = new(record)
		}
		r.n = next
		s.recs = append(s.recs, r)
	}
	if i := n - s.recs[0].n; i >= 0 {
		return s.recs[i]
	}
	return nil // already handed out
}

func (s *session) broken(side string, err error) {
	if s.fate == nil {
		s.fate = &protocol.Fate{Code: FateParse, Detail: side + ": " + err.Error()}
	}
}

// keep appends p to dst up to the route's bound.
func (s *session) keep(dst []byte, p []byte, r *record) []byte {
	if !s.opt.Compare {
		return dst
	}
	room := s.opt.Keep - len(dst)
	if len(p) > room {
		p = p[:max(room, 0)]
		r.truncated = true
	}
	return append(dst, p...)
}

// Client passes the bytes unchanged and marks each request's start.
func (s *session) Client(out, p []byte, at int64) ([]byte, protocol.Mark) {
	s.recycle()
	out = append(out, p...)
	if s.fate != nil {
		return out, 0
	}
	var m protocol.Mark
	for len(p) > 0 {
		opaque := s.req.Opaque()
		n, ev := s.req.Step(p)
		if ev&httpframe.Start != 0 {
			r := s.rec(s.nreq)
			s.nreq++
			r.onlineSent = at
			m |= protocol.RequestStart
		}
		if !opaque && s.nreq > 0 {
			if r := s.rec(s.nreq - 1); r != nil {
				r.clientBytes += n
				r.req = s.keep(r.req, p[:n], r)
			}
		}
		for s.known < s.req.Requests() {
			s.known++
			if r := s.rec(s.known - 1); r != nil {
				r.method = s.req.Method()
			}
			s.target.cut.Expect(s.req.Method())
			if s.opt.Compare {
				s.online.cut.Expect(s.req.Method())
			}
		}
		p = p[n:]
	}
	if err := s.req.Err(); err != nil {
		s.broken("client", err)
	}
	return out, m
}

// Online follows the online server's responses (compared routes).
func (s *session) Online(out, p []byte, at int64) ([]byte, protocol.Mark) {
	s.recycle()
	if s.fate != nil || !s.opt.Compare || (s.midstream && s.nreq == 0) {
		return out, 0
	}
	s.response(&s.online, p, at, false)
	if err := s.online.cut.Err(); err != nil {
		s.broken("online", err)
	}
	return out, 0
}

// Target follows the target's responses: ResponseComplete for each.
func (s *session) Target(out, p []byte, at int64) ([]byte, protocol.Mark) {
	s.recycle()
	if s.fate != nil {
		return out, 0
	}
	m := s.response(&s.target, p, at, true)
	if err := s.target.cut.Err(); err != nil {
		s.broken("target", err)
	}
	return out, m
}

func (s *session) half(r *record, target bool) *half {
	if target {
		return &r.tg
	}
	return &r.on
}

func (s *session) response(rs *respSide, p []byte, at int64, target bool) protocol.Mark {
	var m protocol.Mark
	for len(p) > 0 {
		opaque := rs.cut.Opaque()
		n, ev := rs.cut.Step(p)
		if !opaque {
			if r := s.rec(rs.cur); r != nil {
				h := s.half(r, target)
				if h.bytes == 0 {
					h.first = at
				}
				h.bytes += n
				h.last = at
				h.data = s.keep(h.data, p[:n], r)
			}
		}
		if ev&httpframe.End != 0 {
			m |= s.complete(rs, target)
		}
		p = p[n:]
	}
	return m
}

// complete ends the response in progress on rs.
func (s *session) complete(rs *respSide, target bool) protocol.Mark {
	if r := s.rec(rs.cur); r != nil {
		h := s.half(r, target)
		h.done, h.status = true, rs.cut.Status()
	}
	rs.cur++
	if target {
		return protocol.ResponseComplete
	}
	return 0
}

// End completes a response whose body runs to the end of its stream, and
// any response still due on a stream that ended.
func (s *session) End(out []byte, side protocol.Side, at int64) ([]byte, protocol.Mark) {
	s.recycle()
	if s.fate != nil || side == protocol.SideClient || (side == protocol.SideOnline && !s.opt.Compare) {
		return out, 0
	}
	rs, target := &s.online, false
	if side == protocol.SideTarget {
		rs, target = &s.target, true
	}
	var m protocol.Mark
	if rs.cut.Close()&httpframe.End != 0 {
		m |= s.complete(rs, target)
	}
	// Requests still due get no answer on this stream.
	for rs.cur < s.nreq {
		m |= s.complete(rs, target)
	}
	return out, m
}

// Exchange hands out the oldest request the target has answered (and, on
// a compared route, the online server too, or the online stream lags by
// more than maxWaiting requests).
func (s *session) Exchange(x *protocol.Exchange) bool {
	s.recycle()
	if len(s.recs) == 0 {
		return false
	}
	r := s.recs[0]
	if !r.tg.done || r.n >= s.nreq || (s.opt.Compare && !r.on.done && len(s.recs) <= maxWaiting && s.fate == nil) {
		return false
	}
	s.recs = s.recs[:copy(s.recs, s.recs[1:])]
	s.handed = r
	*x = protocol.Exchange{
		Request: r.n, Kind: r.method.String(),
		ClientBytes: r.clientBytes, TargetIn: r.clientBytes,
		OnlineBytes: r.on.bytes, TargetBytes: r.tg.bytes,
		OnlineSent: r.onlineSent, OnlineFirst: r.on.first, OnlineLast: r.on.last,
		TargetFirst: r.tg.first, TargetLast: r.tg.last,
	}
	if s.opt.Compare {
		method, target := requestLine(r.req)
		if x.Kind == "" {
			x.Kind = method
		}
		if method != "" {
			x.Key = compare.EndpointKey(method + " " + target)
		}
		x.RequestData, x.OnlineData, x.TargetData = r.req, r.on.data, r.tg.data
		x.Truncated = r.truncated
		x.Same = r.on.done && r.on.status == r.tg.status
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
