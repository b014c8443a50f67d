// Package pairing pairs the requests of one session with their responses
// on the online and target streams, for the protocols that find message
// boundaries (protocol/http, protocol/redis, tcp.Compare): each protocol
// frames its streams and tells a Queue where requests and responses
// begin and end; the Queue keeps the counts, times and (on a compared
// route) payloads, and hands out each request as a protocol.Exchange once
// both responses are in.
//
// Data flow, per session:
//
//	client framing --> Start, Request --------+
//	online framing --> Response, Complete ----+-> Queue: records, oldest first
//	target framing --> Response, Complete ----+      |
//	                                                 v
//	                          Next -> protocol.Exchange (payloads alias the records)
//
// Records are recycled: a session that has reached its depth allocates
// nothing per request.
package pairing

import "github.com/replaygw/replaygw/protocol"

// MaxWaiting bounds the requests an online stream may lag behind the
// target by: older ones are handed out with the online response as far as
// it came.
const MaxWaiting = 256

// Half is one response of a request.
type Half struct {
	Bytes       int
	Data        []byte // kept on compared routes, cut to Keep
	First, Last int64  // times of the first and last byte
	Done        bool
	Status      int // the protocol's summary of the response (an HTTP status, a RESP type)
}

// Record is one request on its way to an Exchange.
type Record struct {
	N           int    // request number in the session
	Kind        string // the protocol's name of the request
	ClientBytes int
	Req         []byte // kept on compared routes, cut to Keep
	On, Tg      Half
	Truncated   bool
	OnlineSent  int64 // time the request's first byte was captured
}

// Half is the response of r on side (online or target).
func (r *Record) Half(side protocol.Side) *Half {
	if side == protocol.SideTarget {
		return &r.Tg
	}
	return &r.On
}

// Queue is one session's requests in flight.
type Queue struct {
	opt     protocol.Options
	recs    []*Record // oldest first; recs[0].N is the next exchange
	free    []*Record
	handed  *Record // given out by the last Next: recycled at the next Recycle
	started int
	due     [2]int // request number of the response in progress: online, target
	fate    *protocol.Fate
}

// Init makes q an empty queue for a route's options (Keep 0: DefaultKeep).
func (q *Queue) Init(o protocol.Options) {
	if o.Keep <= 0 {
		o.Keep = protocol.DefaultKeep
	}
	*q = Queue{opt: o}
}

// Compare reports whether the route keeps payloads.
func (q *Queue) Compare() bool { return q.opt.Compare }

// Needs are the streams a framing protocol reads: the online one only on
// a compared route.
func (q *Queue) Needs() protocol.Needs {
	if q.opt.Compare {
		return protocol.NeedsClient | protocol.NeedsOnline | protocol.NeedsTarget
	}
	return protocol.NeedsClient | protocol.NeedsTarget
}

// Fail sets the session's fate, code with the side and err as detail,
// unless one is set already.
func (q *Queue) Fail(code, side string, err error) {
	if q.fate == nil {
		q.fate = &protocol.Fate{Code: code, Detail: side + ": " + err.Error()}
	}
}

// Check fails the session as Fail does when err is not nil.
func (q *Queue) Check(code, side string, err error) {
	if err != nil {
		q.Fail(code, side, err)
	}
}

// Call begins every Protocol call: the record of the last exchange
// handed out is recycled. It reports whether the session still replays
// (no fate).
func (q *Queue) Call() bool {
	q.Recycle()
	return q.fate == nil
}

// Fate is the session's fate, nil while it replays.
func (q *Queue) Fate() *protocol.Fate { return q.fate }

// Recycle takes back the record handed out by the last Next: call it at
// the start of every Protocol call, once the caller has had the Exchange.
func (q *Queue) Recycle() {
	if r := q.handed; r != nil {
		q.handed = nil
		*r = Record{Req: r.Req[:0], On: Half{Data: r.On.Data[:0]}, Tg: Half{Data: r.Tg.Data[:0]}}
		q.free = append(q.free, r)
	}
}

// Started is the number of requests started.
func (q *Queue) Started() int { return q.started }

// Start begins the next request, its first byte captured at at.
func (q *Queue) Start(at int64) *Record {
	r := q.Rec(q.started)
	q.started++
	r.OnlineSent = at
	return r
}

// Rec returns the record of request n, making it (and any before it) when
// a response runs ahead of the client stream; nil when it was handed out.
func (q *Queue) Rec(n int) *Record {
	for len(q.recs) == 0 || q.recs[len(q.recs)-1].N < n {
		next := n
		if len(q.recs) > 0 {
			next = q.recs[len(q.recs)-1].N + 1
		}
		var r *Record
		if k := len(q.free); k > 0 {
			r, q.free = q.free[k-1], q.free[:k-1]
		} else {
			r = new(Record)
		}
		r.N = next
		q.recs = append(q.recs, r)
	}
	if i := n - q.recs[0].N; i >= 0 {
		return q.recs[i]
	}
	return nil
}

// Client takes the n bytes of p a client Cutter's Step consumed: start
// says a request began in them (RequestStart is returned), opaque that
// the cutter was outside any request before the Step (the bytes are no
// request's).
func (q *Queue) Client(p []byte, start, opaque bool, at int64) protocol.Mark {
	var m protocol.Mark
	if start {
		q.Start(at)
		m = protocol.RequestStart
	}
	if !opaque {
		q.Request(p)
	}
	return m
}

// Request adds p to the request started last.
func (q *Queue) Request(p []byte) {
	if q.started == 0 {
		return
	}
	if r := q.Rec(q.started - 1); r != nil {
		r.ClientBytes += len(p)
		r.Req = q.keep(r.Req, p, r)
	}
}

// Due is the request number of the response in progress on side.
func (q *Queue) Due(side protocol.Side) int { return q.due[index(side)] }

func index(side protocol.Side) int {
	if side == protocol.SideTarget {
		return 1
	}
	return 0
}

// Response adds p, arrived at at, to the response in progress on side.
func (q *Queue) Response(side protocol.Side, p []byte, at int64) {
	r := q.Rec(q.due[index(side)])
	if r == nil {
		return
	}
	h := r.Half(side)
	if h.Bytes == 0 {
		h.First = at
	}
	h.Bytes += len(p)
	h.Last = at
	h.Data = q.keep(h.Data, p, r)
}

// Complete ends the response in progress on side with the protocol's
// status of it; the next response begins. On the target side it returns
// ResponseComplete.
func (q *Queue) Complete(side protocol.Side, status int) protocol.Mark {
	i := index(side)
	if r := q.Rec(q.due[i]); r != nil {
		h := r.Half(side)
		h.Done, h.Status = true, status
	}
	q.due[i]++
	if side == protocol.SideTarget {
		return protocol.ResponseComplete
	}
	return 0
}

// Unanswered completes, with status 0, every response still due on a
// side whose stream ended.
func (q *Queue) Unanswered(side protocol.Side) protocol.Mark {
	var m protocol.Mark
	for q.due[index(side)] < q.started {
		m |= q.Complete(side, 0)
	}
	return m
}

// keep appends p to dst up to the route's bound.
func (q *Queue) keep(dst, p []byte, r *Record) []byte {
	if !q.opt.Compare {
		return dst
	}
	room := q.opt.Keep - len(dst)
	if len(p) > room {
		p = p[:max(room, 0)]
		r.Truncated = true
	}
	return append(dst, p...)
}

// Next fills x from the oldest request the target has answered (and, on
// a compared route, the online server too, unless it lags by more than
// MaxWaiting requests, the session has a fate or stop says the
// online stream is over) and returns its
// record, valid until the next Recycle; nil when none is ready. x's
// Kind, Key and Same are the caller's to set.
func (q *Queue) Next(x *protocol.Exchange, stop bool) *Record {
	stop = stop || q.fate != nil
	if len(q.recs) == 0 {
		return nil
	}
	r := q.recs[0]
	if !r.Tg.Done || r.N >= q.started || (q.opt.Compare && !r.On.Done && len(q.recs) <= MaxWaiting && !stop) {
		return nil
	}
	q.recs = q.recs[:copy(q.recs, q.recs[1:])]
	q.handed = r
	*x = protocol.Exchange{
		Request: r.N, Kind: r.Kind,
		ClientBytes: r.ClientBytes, TargetIn: r.ClientBytes,
		OnlineBytes: r.On.Bytes, TargetBytes: r.Tg.Bytes,
		OnlineSent: r.OnlineSent, OnlineFirst: r.On.First, OnlineLast: r.On.Last,
		TargetFirst: r.Tg.First, TargetLast: r.Tg.Last,
	}
	if q.opt.Compare {
		x.RequestData, x.OnlineData, x.TargetData = r.Req, r.On.Data, r.Tg.Data
		x.Truncated = r.Truncated
	}
	return r
}
