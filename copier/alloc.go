package copier

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/replaygw/replaygw/wire"
)

// The tuple allocator: gives each copy of a captured connection the
// (client address, port) it uses towards the target, never two live
// sessions the same 4-tuple, and never a 4-tuple the target may still hold
// in TIME_WAIT. It is also the map of rewritten tuple -> owner worker that
// routes the target's response records.
//
// With a pool, a client address maps to one pool address per copy (a
// consistent hash, like tcpcopy's -c), and the client's port is kept when
// that tuple is free; when it is not (the client reused the port within
// TIME_WAIT), the same port on the next pool addresses. Without a pool,
// copy 0 keeps the client tuple and the other copies take other free ports
// on the same client address. The search is bounded (maxProbe).

const (
	allocShards   = 64
	firstPort     = 1024
	portSpan      = 65536 - firstPort
	maxSpill      = 256  // pool addresses tried with the client's own port
	maxProbe      = 4096 // tuples tried in all before a session gets FateNoPort
	probeStride   = 7919 // a prime: consecutive probes land far apart in the port space
	sweepInterval = 1024
)

type allocEntry struct {
	worker int32 // owner worker, -1 in TIME_WAIT
	until  int64 // end of TIME_WAIT (unix ns)
}

type allocShard struct {
	mu    sync.RWMutex
	m     map[wire.Tuple]allocEntry
	calls int
}

type allocator struct {
	pool     netip.Prefix // zero: keep client addresses
	poolSize uint64
	poolBase uint64 // first usable host index
	timeWait int64
	// salt varies the pool address each client maps to from one copier
	// process to the next: the allocator only knows the TIME_WAIT tuples of
	// its own lifetime, and a rerun that reused the last run's tuples would
	// collide with the target's TIME_WAIT (consistent within a run).
	salt   uint64
	shards [allocShards]allocShard
}

func newAllocator(pool netip.Prefix, timeWait int64) *allocator {
	a := &allocator{pool: pool.Masked(), timeWait: timeWait, salt: randomSalt()}
	if pool.IsValid() {
		hostBits := pool.Addr().BitLen() - pool.Bits()
		if hostBits > 32 {
			hostBits = 32
		}
		size := uint64(1) << hostBits
		switch {
		case pool.Addr().Is4() && size >= 4: // skip network and broadcast
			a.poolBase, a.poolSize = 1, size-2
		case size >= 2: // skip the subnet-router anycast address
			a.poolBase, a.poolSize = 1, size-1
		default:
			a.poolBase, a.poolSize = 0, size
		}
	}
	for i := range a.shards {
		a.shards[i].m = make(map[wire.Tuple]allocEntry)
	}
	return a
}

func (a *allocator) shard(t wire.Tuple) *allocShard {
	return &a.shards[hashTuple(shardKey, t)%allocShards]
}

// poolAddr returns the i-th usable address of the pool.
func (a *allocator) poolAddr(i uint64) netip.Addr {
	i = a.poolBase + i%a.poolSize
	b := a.pool.Addr().As16()
	lo := binary.BigEndian.Uint64(b[8:]) + i
	binary.BigEndian.PutUint64(b[8:], lo)
	ad := netip.AddrFrom16(b)
	if a.pool.Addr().Is4() {
		ad = ad.Unmap()
	}
	return ad
}

// tryTake claims t for worker w if it is free at now.
func (a *allocator) tryTake(t wire.Tuple, w int, now int64) bool {
	sh := a.shard(t)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.calls++; sh.calls%sweepInterval == 0 {
		for k, e := range sh.m {
			if e.worker < 0 && e.until <= now {
				delete(sh.m, k)
			}
		}
	}
	if e, ok := sh.m[t]; ok && (e.worker >= 0 || e.until > now) {
		return false
	}
	sh.m[t] = allocEntry{worker: int32(w)}
	return true
}

// acquire picks and claims the tuple for copy c of the captured session
// orig, sent to target, owned by worker w.
func (a *allocator) acquire(orig wire.Tuple, target netip.AddrPort, c, w int, now int64) (wire.Tuple, bool) {
	addr := orig.Client.Addr()
	var h uint64 // the client address's place in the pool
	if a.pool.IsValid() {
		if addr.Is4() != a.pool.Addr().Is4() {
			return wire.Tuple{}, false
		}
		h = mix64(hashAddrPort(sampleKey+a.salt+uint64(c), netip.AddrPortFrom(addr, 0)))
		addr = a.poolAddr(h)
	}
	port := orig.Client.Port()
	t := wire.Tuple{Client: netip.AddrPortFrom(addr, port), Target: target}
	if (a.pool.IsValid() || c == 0) && a.tryTake(t, w, now) {
		return t, true
	}
	var k uint64
	if a.pool.IsValid() {
		// A client that reuses its port while the target still holds the
		// last connection on it in TIME_WAIT (short connections at a high
		// rate): the same port on the next pool addresses is almost
		// always free.
		for ; k < min(a.poolSize, maxSpill)-1; k++ {
			t.Client = netip.AddrPortFrom(a.poolAddr(h+1+k), port)
			if a.tryTake(t, w, now) {
				return t, true
			}
		}
	}
	// Then other ports (and, with a pool, addresses): a bounded number of
	// probes, so that a nearly exhausted space costs a counted fate, not
	// a worker stalled in the search.
	start := hashTuple(shardKey+a.salt+uint64(c), orig)
	for ; k < maxProbe; k++ {
		ad := addr
		if a.pool.IsValid() {
			ad = a.poolAddr(h + start + k)
		}
		t.Client = netip.AddrPortFrom(ad, uint16(firstPort+(start+k*probeStride)%portSpan))
		if a.tryTake(t, w, now) {
			return t, true
		}
	}
	return wire.Tuple{}, false
}

// release ends the claim on t; the tuple stays unavailable for TimeWait.
func (a *allocator) release(t wire.Tuple, now int64) {
	sh := a.shard(t)
	sh.mu.Lock()
	if a.timeWait > 0 {
		sh.m[t] = allocEntry{worker: -1, until: now + a.timeWait}
	} else {
		delete(sh.m, t)
	}
	sh.mu.Unlock()
}

// owner returns the worker owning the live session t.
func (a *allocator) owner(t wire.Tuple) (int, bool) {
	sh := a.shard(t)
	sh.mu.RLock()
	e, ok := sh.m[t]
	sh.mu.RUnlock()
	if !ok || e.worker < 0 {
		return 0, false
	}
	return int(e.worker), true
}

func randomSalt() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}
