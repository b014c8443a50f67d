package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaygw/replaygw/wire"
)

const (
	shardBits = 6
	numShards = 1 << shardBits
)

// route is one registered session. owner and ttl change only under the
// shard's write lock; expires is refreshed by traffic under the read lock.
type route struct {
	owner   *peer
	ttl     int64        // nanoseconds
	expires atomic.Int64 // clock nanoseconds
}

type routeShard struct {
	mu sync.RWMutex
	m  map[wire.Tuple]*route
	_  [32]byte // keep neighbouring shards' locks off one cache line
}

// routeTable maps exact tuples to the copier that owns them. It is sharded
// by a hash of the tuple so that the TUN reader goroutines looking routes up
// and the copier readers adding them rarely meet on one lock. Early
// SYN-ACK/RST records wait in hold until their route arrives.
type routeTable struct {
	shards [numShards]routeShard
	clock  func() int64 // nanoseconds, monotonic
	defTTL int64
	hold   earlyHold
	st     *Stats
}

func newRouteTable(defTTL, holdFor time.Duration, holdMax, holdPayload int, clock func() int64, st *Stats) *routeTable {
	t := &routeTable{clock: clock, defTTL: int64(defTTL), st: st}
	for i := range t.shards {
		t.shards[i].m = make(map[wire.Tuple]*route)
	}
	t.hold.init(int64(holdFor), holdMax, holdPayload)
	return t
}

func (t *routeTable) shard(tu wire.Tuple) *routeShard {
	a := tu.Client.Addr().As16()
	h := uint32(tu.Client.Port())<<16 | uint32(tu.Target.Port())
	h ^= uint32(a[12])<<24 | uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15])
	h *= 0x9e3779b1
	return &t.shards[h>>(32-shardBits)]
}

// lookup returns the live owner of tu and refreshes the route's expiry, or
// nil when there is no live route.
func (t *routeTable) lookup(tu wire.Tuple, now int64) *peer {
	sh := t.shard(tu)
	sh.mu.RLock()
	r := sh.m[tu]
	var p *peer
	if r != nil {
		exp := r.expires.Load()
		if exp >= now {
			p = r.owner
			if exp-now < r.ttl/2 { // refresh rarely: a store per packet would bounce the line
				r.expires.Store(now + r.ttl)
			}
		}
	}
	sh.mu.RUnlock()
	return p
}

// add registers (or refreshes, or takes over) the route for tu and hands
// any held early records to its owner.
func (t *routeTable) add(tu wire.Tuple, ttl time.Duration, owner *peer) {
	now := t.clock()
	n := int64(ttl)
	if n <= 0 {
		n = t.defTTL
	}
	sh := t.shard(tu)
	sh.mu.Lock()
	r := sh.m[tu]
	if r == nil {
		r = &route{}
		sh.m[tu] = r
		t.st.RoutesActive.Add(1)
	}
	r.owner, r.ttl = owner, n
	r.expires.Store(now + n)
	sh.mu.Unlock()
	t.st.RoutesAdded.Add(1)
	if t.hold.count.Load() > 0 {
		t.release(tu, owner)
	}
}

// del removes the route for tu if owner holds it.
func (t *routeTable) del(tu wire.Tuple, owner *peer) bool {
	sh := t.shard(tu)
	sh.mu.Lock()
	r := sh.m[tu]
	ok := r != nil && r.owner == owner
	if ok {
		delete(sh.m, tu)
	}
	sh.mu.Unlock()
	if ok {
		t.st.RoutesDeleted.Add(1)
		dec(&t.st.RoutesActive)
	}
	return ok
}

// removeOwner drops every route of a copier that went away.
func (t *routeTable) removeOwner(owner *peer) int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for tu, r := range sh.m {
			if r.owner == owner {
				delete(sh.m, tu)
				n++
			}
		}
		sh.mu.Unlock()
	}
	t.st.RoutesOrphaned.Add(uint64(n))
	t.st.RoutesActive.Add(-uint64(n))
	return n
}

// expire drops routes past their expiry and held records past the hold
// time. It returns how many of each it dropped.
func (t *routeTable) expire(now int64) (routes, held int) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for tu, r := range sh.m {
			if r.expires.Load() < now {
				delete(sh.m, tu)
				routes++
			}
		}
		sh.mu.Unlock()
	}
	t.st.RoutesExpired.Add(uint64(routes))
	t.st.RoutesActive.Add(-uint64(routes))
	return routes, t.expireHeld(now)
}

// expireHeld drops held records past the hold time.
func (t *routeTable) expireHeld(now int64) int {
	n := t.hold.expire(now)
	t.st.HeldExpired.Add(uint64(n))
	return n
}

// len returns the number of routes held (expired ones not yet swept
// included).
func (t *routeTable) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// holdEarly keeps an unrouted SYN-ACK or RST. The route may have been added
// between the failed lookup and the hold; looking again after holding closes
// that race (add releases after inserting, we look after holding).
func (t *routeTable) holdEarly(r *wire.Record, now int64) {
	if !t.hold.put(r, now) {
		t.st.DroppedHold.Add(1)
		return
	}
	t.st.HeldEarly.Add(1)
	if p := t.lookup(r.Tuple, now); p != nil {
		t.release(r.Tuple, p)
	}
}

func (t *routeTable) release(tu wire.Tuple, p *peer) {
	for _, h := range t.hold.take(tu) {
		if p.enqueue(&h.rec) {
			t.st.HeldDelivered.Add(1)
		}
	}
}

// isEarly reports whether a record may be held before its route: a SYN-ACK
// or an RST, nothing else.
func isEarly(r *wire.Record) bool {
	return r.Has(wire.FlagSYN|wire.FlagACK) || r.Has(wire.FlagRST)
}
