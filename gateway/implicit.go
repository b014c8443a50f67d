package gateway

import "github.com/replaygw/replaygw/wire"

// Implicit leases (wire.CapImplicitLeases). A copier instance that has the
// whole client pool is the only one that can own a response nobody
// leased, so the gateway hands it those records and the copier leases
// only the sessions that need lease flags: no lease frame per session, on
// either host. When a second copier joins, the pool is split and the
// first copier leases its live sessions as its new share reaches it;
// until then, for at most wire.ImplicitGrace, the unleased records still
// go to it. Explicit leases always come first.

// implicitRoute is where unleased records go: p, until the monotonic time
// until (0: while p has the whole pool).
type implicitRoute struct {
	p     *peer
	until int64
}

// updateImplicit recomputes the implicit route after the peers or the
// shares changed. Called with s.mu held.
func (s *Server) updateImplicit() {
	var sole *peer
	if len(s.shares.byInstance) == 1 && s.shares.count() == 1 {
		for p := range s.peers {
			if p.implicit && (sole == nil || p.seq > sole.seq) {
				sole = p
			}
		}
	}
	cur := s.implicit.Load()
	switch {
	case sole != nil:
		if cur == nil || cur.p != sole || cur.until != 0 {
			s.implicit.Store(&implicitRoute{p: sole})
		}
	case cur == nil:
	case !s.hasPeer(cur.p):
		s.implicit.Store(nil)
	case cur.until == 0:
		// The pool was split under the copier that had it whole.
		s.implicit.Store(&implicitRoute{p: cur.p, until: s.cfg.clock() + int64(wire.ImplicitGrace)})
	}
}

func (s *Server) hasPeer(p *peer) bool {
	_, ok := s.peers[p]
	return ok
}

// routeImplicit hands r to the copier that has (or just had) the whole
// pool; false when there is none.
func (s *Server) routeImplicit(r *wire.Record, now int64) bool {
	ir := s.implicit.Load()
	if ir == nil || ir.until != 0 && now >= ir.until {
		return false
	}
	if ir.p.enqueue(r, 0) {
		s.st.RecordsImplicit.Add(1)
	}
	return true
}
