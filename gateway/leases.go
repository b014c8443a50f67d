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

// lease is one session's entry: the exact 4-tuple belongs to owner until
// expires. owner and ttl change only under the shard's write lock; expires
// is refreshed by traffic under the read lock.
type lease struct {
	owner   *peer
	flags   wire.LeaseFlags // LeasePayload: records carry the whole payload
	ttl     int64           // nanoseconds
	expires atomic.Int64    // clock nanoseconds
}

type leaseShard struct {
	mu sync.RWMutex
	m  map[wire.Tuple]*lease
	_  [32]byte // keep neighbouring shards' locks off one cache line
}

// leaseTable maps exact tuples to the copier that leased them. It is
// sharded by a hash of the tuple so that the TUN reader goroutines looking
// leases up and the copier readers taking them rarely meet on one lock.
// Early SYN-ACK/RST records wait in hold until their lease arrives. A live
// lease is never handed to another copier: take refuses it.
type leaseTable struct {
	shards [numShards]leaseShard
	clock  func() int64 // nanoseconds, monotonic
	defTTL int64
	hold   earlyHold
	st     *Stats
}

func newLeaseTable(defTTL, holdFor time.Duration, holdMax, holdBytes int, clock func() int64, st *Stats) *leaseTable {
	t := &leaseTable{clock: clock, defTTL: int64(defTTL), st: st}
	for i := range t.shards {
		t.shards[i].m = make(map[wire.Tuple]*lease)
	}
	t.hold.init(int64(holdFor), holdMax, holdBytes)
	return t
}

func (t *leaseTable) shard(tu wire.Tuple) *leaseShard {
	a := tu.Client.Addr().As16()
	h := uint32(tu.Client.Port())<<16 | uint32(tu.Target.Port())
	h ^= uint32(a[12])<<24 | uint32(a[13])<<16 | uint32(a[14])<<8 | uint32(a[15])
	h *= 0x9e3779b1
	return &t.shards[h>>(32-shardBits)]
}

// lookup returns the live owner of tu, or nil; see route.
func (t *leaseTable) lookup(tu wire.Tuple, now int64) *peer {
	p, _ := t.route(tu, now)
	return p
}

// route returns the live owner of tu and the lease's flags and refreshes
// the lease's expiry, or nil when there is no live lease.
func (t *leaseTable) route(tu wire.Tuple, now int64) (*peer, wire.LeaseFlags) {
	sh := t.shard(tu)
	sh.mu.RLock()
	r := sh.m[tu]
	var p *peer
	var f wire.LeaseFlags
	if r != nil {
		exp := r.expires.Load()
		if exp >= now {
			p, f = r.owner, r.flags
			if exp-now < r.ttl/2 { // refresh rarely: a store per packet would bounce the line
				r.expires.Store(now + r.ttl)
			}
		}
	}
	sh.mu.RUnlock()
	return p, f
}

// take leases tu to owner (or renews owner's lease) and hands any held
// early records to it. It refuses, counts and reports false when another
// copier holds a live lease on tu: one copier's session never takes over
// another's. A lease held by another connection of the same copier
// instance (a reconnect the gateway has not noticed yet) or an expired
// lease is taken over.
func (t *leaseTable) take(tu wire.Tuple, ttl time.Duration, owner *peer) bool {
	return t.takeFlags(tu, ttl, 0, owner)
}

// takeFlags is take with the lease's flags (a renewal sets them anew).
func (t *leaseTable) takeFlags(tu wire.Tuple, ttl time.Duration, f wire.LeaseFlags, owner *peer) bool {
	now := t.clock()
	n := int64(ttl)
	if n <= 0 {
		n = t.defTTL
	}
	sh := t.shard(tu)
	sh.mu.Lock()
	l := sh.m[tu]
	switch {
	case l == nil:
		l = &lease{}
		sh.m[tu] = l
		t.st.RoutesActive.Add(1)
	case l.owner != owner && !sameInstance(l.owner, owner) && l.expires.Load() >= now:
		sh.mu.Unlock()
		t.st.LeasesRefused.Add(1)
		return false
	}
	l.owner, l.ttl, l.flags = owner, n, f
	l.expires.Store(now + n)
	sh.mu.Unlock()
	t.st.RoutesAdded.Add(1)
	if t.hold.count.Load() > 0 {
		t.deliverHeld(tu, owner, f)
	}
	return true
}

// sameInstance reports whether a and b are connections of one copier
// process. A peer without an instance (doctor's probe) is only itself.
func sameInstance(a, b *peer) bool {
	return a.instance == b.instance && a.instance != [16]byte{}
}

// release ends owner's lease on tu; a lease of another copier stays.
func (t *leaseTable) release(tu wire.Tuple, owner *peer) bool {
	sh := t.shard(tu)
	sh.mu.Lock()
	l := sh.m[tu]
	ok := l != nil && l.owner == owner
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

// removeOwner drops every lease of a copier that went away.
func (t *leaseTable) removeOwner(owner *peer) int {
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

// expire drops leases past their expiry and held records past the hold
// time. It returns how many of each it dropped.
func (t *leaseTable) expire(now int64) (leases, held int) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for tu, r := range sh.m {
			if r.expires.Load() < now {
				delete(sh.m, tu)
				leases++
			}
		}
		sh.mu.Unlock()
	}
	t.st.RoutesExpired.Add(uint64(leases))
	t.st.RoutesActive.Add(-uint64(leases))
	return leases, t.expireHeld(now)
}

// expireHeld drops held records past the hold time.
func (t *leaseTable) expireHeld(now int64) int {
	n := t.hold.expire(now)
	t.st.HeldExpired.Add(uint64(n))
	return n
}

// len returns the number of leases held (expired ones not yet swept
// included).
func (t *leaseTable) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// holdEarly keeps an unleased SYN-ACK or RST. The lease may have been taken
// between the failed lookup and the hold; looking again after holding closes
// that race (take delivers after inserting, we look after holding).
func (t *leaseTable) holdEarly(r *wire.Record, now int64) {
	if !t.hold.put(r, now) {
		t.st.DroppedHold.Add(1)
		return
	}
	t.st.HeldEarly.Add(1)
	if p, f := t.route(r.Tuple, now); p != nil {
		t.deliverHeld(r.Tuple, p, f)
	}
}

func (t *leaseTable) deliverHeld(tu wire.Tuple, p *peer, f wire.LeaseFlags) {
	for _, h := range t.hold.take(tu) {
		if p.enqueue(&h.rec, f) {
			t.st.HeldDelivered.Add(1)
		}
	}
}

// isEarly reports whether a record may be held before its lease: a SYN-ACK
// or an RST, nothing else.
func isEarly(r *wire.Record) bool {
	return r.Has(wire.FlagSYN|wire.FlagACK) || r.Has(wire.FlagRST)
}
