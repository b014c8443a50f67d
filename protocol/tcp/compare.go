package tcp

import (
	"bytes"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/pairing"
)

// Compare returns the constructor of a compared tcp route's sessions, or
// nil (the engine's passthrough, at no cost) when the route is not
// compared.
//
// With no framing to go by, a request is a turn of the conversation: the
// client bytes captured from the first one after the online server last
// spoke (the same boundary as the engine's ack heuristic), and its online
// response the server bytes captured until the next request.
//
// The target's bytes answer the oldest request whose target response is
// not complete (the one due). Which request that is follows the engine:
// it calls Sent when a request's first byte goes to the target, and paces
// a request until the target answered the one before (the
// ResponseComplete this protocol reports, or the target falling quiet, or
// the engine's wait cap). So:
//   - while the request after the due one has not been sent, every target
//     byte answers the due one, however long it gets: a target response
//     longer than production's is complete only when the next request
//     goes out (the engine released it on the target's silence) or the
//     target's stream ends;
//   - a target response as long as production's final one is complete at
//     once (ResponseComplete: the next request goes out without waiting);
//   - when a later request is sent, the due responses the target began
//     are complete: a shorter one gets none of the next request's bytes;
//   - with more than one request out (released by the wait cap), the
//     target's bytes are shared out by the online responses' lengths,
//     and only the answer to the last one sent reports ResponseComplete.
//
// A target response longer or shorter than production's therefore
// differs itself and leaves the later pairs exact. Online bytes before the
// first request (a server's greeting) and as many of the target's first
// bytes are not compared; a capture that began inside the session
// (Start.Midstream) drops the online bytes before its first request seen
// instead.
//
// The client's bytes go out unchanged; the exchanges carry the request
// and both responses (cut to Options.Keep) for compare.Bytes at the
// gateway. Compare never sets a fate.
func Compare(o protocol.Options) protocol.New {
	if !o.Compare {
		return nil
	}
	return func(st protocol.Start) (protocol.Protocol, error) {
		s := &turns{midstream: st.Midstream}
		s.Init(o)
		return s, nil
	}
}

// Key is the endpoint key of a tcp route's exchanges.
const Key = "tcp"

// turns is a compared tcp session.
type turns struct {
	pairing.Queue // Needs and Fate
	// turn: the online server spoke since the last client bytes; the
	// next client bytes start a request.
	turn      bool
	greeting  int // online bytes before the first request
	skipped   int // target bytes skipped as its greeting
	midstream bool
	sent      int // requests whose first byte went to the target (Sent)
}

// Client passes the bytes unchanged; bytes after the online server spoke
// start a request.
func (s *turns) Client(out, p []byte, at int64) ([]byte, protocol.Mark) {
	out = append(out, p...)
	s.Call()
	if len(p) == 0 {
		return out, 0
	}
	var m protocol.Mark
	if s.Started() == 0 || s.turn {
		if s.Started() > 0 {
			s.Complete(protocol.SideOnline, 0) // its online response is final
		}
		s.Start(at)
		s.turn = false
		m = protocol.RequestStart | s.advance()
	}
	s.Request(p)
	return out, m
}

// Online follows the online server's responses.
func (s *turns) Online(out, p []byte, at int64) ([]byte, protocol.Mark) {
	s.Call()
	if s.Started() == 0 {
		if !s.midstream {
			s.greeting += len(p)
		}
		return out, 0
	}
	s.Response(protocol.SideOnline, p, at)
	s.turn = s.turn || len(p) > 0
	return out, 0
}

// Target gives the target's bytes to the request due; with a later
// request out already, by the online responses' lengths.
func (s *turns) Target(out, p []byte, at int64) ([]byte, protocol.Mark) {
	s.Call()
	if k := min(len(p), s.greeting-s.skipped); k > 0 {
		s.skipped += k
		p = p[k:]
	}
	var m protocol.Mark
	for len(p) > 0 {
		m |= s.advance()
		k := len(p)
		if room, final := s.room(); final && s.split() {
			k = max(min(k, room), 1) // room > 0: advance completed a full one
		}
		s.Response(protocol.SideTarget, p[:k], at)
		p = p[k:]
	}
	return out, m | s.advance()
}

// split reports whether a request after the one due is out already: the
// target's bytes are then shared out by the online responses' lengths.
func (s *turns) split() bool { return s.sent > s.Due(protocol.SideTarget)+1 }

// Sent: the engine sent request n's first byte to the target. The due
// target responses before it that began are complete: the engine
// released n once the target had fallen quiet (or its wait ran out), and
// the target's bytes from now on answer n. It is the engine's optional
// hook (copier's sentNoter); it returns no mark, n being released.
func (s *turns) Sent(n int, _ int64) {
	s.sent = max(s.sent, n+1)
	for d := s.Due(protocol.SideTarget); d < n && d < s.Started(); d++ {
		if r := s.Rec(d); r != nil && r.Tg.Bytes == 0 {
			return // not answered at all: the bytes to come are shared out by length
		}
		s.Complete(protocol.SideTarget, 0)
	}
}

// room is how many more bytes the target's response due may take to be
// as long as its online one, and whether that is final (its online
// response is).
func (s *turns) room() (int, bool) {
	n := s.Due(protocol.SideTarget)
	if s.Due(protocol.SideOnline) <= n {
		return 0, false
	}
	r := s.Rec(n)
	if r == nil {
		return 0, false
	}
	return max(r.On.Bytes-r.Tg.Bytes, 0), true
}

// advance completes the target's responses that are as long as their
// final online ones: exactly, or at least when a later request is out (a
// longer one otherwise waits for Sent or End).
func (s *turns) advance() protocol.Mark {
	var m protocol.Mark
	for {
		n := s.Due(protocol.SideTarget)
		if s.Due(protocol.SideOnline) <= n {
			return m
		}
		r := s.Rec(n)
		if r == nil || r.Tg.Bytes < r.On.Bytes || r.Tg.Bytes > r.On.Bytes && !s.split() {
			return m
		}
		m |= s.complete()
	}
}

// complete ends the target response due. Its ResponseComplete is for the
// engine's pacing, which waits for the answer to the request it sent
// last: none when a later request is out already (it must not release
// the one after that early).
func (s *turns) complete() protocol.Mark {
	n := s.Due(protocol.SideTarget)
	m := s.Complete(protocol.SideTarget, 0)
	if s.sent > 0 && n < s.sent-1 {
		return 0
	}
	return m
}

// End makes the last online response final, or gives the requests due on
// the target no more bytes.
func (s *turns) End(out []byte, side protocol.Side, _ int64) ([]byte, protocol.Mark) {
	s.Call()
	switch side {
	case protocol.SideOnline:
		s.Unanswered(protocol.SideOnline)
		return out, s.advance()
	case protocol.SideTarget:
		return out, s.Unanswered(protocol.SideTarget)
	}
	return out, 0
}

// Exchange hands out the oldest request both responses are in for.
func (s *turns) Exchange(x *protocol.Exchange) bool {
	s.Call()
	r := s.Next(x, false)
	if r == nil {
		return false
	}
	x.Key = Key
	x.Same = r.On.Bytes == r.Tg.Bytes && bytes.Equal(r.On.Data, r.Tg.Data)
	return true
}

var _ protocol.Protocol = (*turns)(nil)
