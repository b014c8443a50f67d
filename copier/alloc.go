package copier

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

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
//
// Several copiers on one gateway share its pool: the gateway gives each
// copier a share (wire.Share, Index of Count) and the allocator picks only
// tuples inside it, so two copiers never compete for a tuple. A share is
// every Count-th pool address (from Index) when the pool has at least Count
// addresses, so the client's own port and "the same port on the next pool
// address" work inside the share as in the whole pool; otherwise (or
// without a pool) it is every Count-th port from firstPort+Index.

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
	m     map[tupleKey]allocEntry
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
	share  atomic.Uint32 // Index<<16 | Count; 0: the whole space
	shards [allocShards]allocShard
}

// setShare restricts new tuples to s (live ones stay as they are).
func (a *allocator) setShare(s wire.Share) {
	if s.Whole() || !s.Valid() {
		a.share.Store(0)
		return
	}
	a.share.Store(uint32(s.Index)<<16 | uint32(s.Count))
}

// tupleSpace is the part of the (pool address, port) space one share
// covers: addresses addrOff + j*addrStep (j < addrN) of the pool, ports
// firstPort + portOff + j*portStep (j < portN).
type tupleSpace struct {
	addrOff, addrStep, addrN uint64
	portOff, portStep, portN uint64
}

// space returns the current share's tuple space.
func (a *allocator) space() tupleSpace {
	sp := tupleSpace{addrStep: 1, addrN: max(a.poolSize, 1), portStep: 1, portN: portSpan}
	v := a.share.Load()
	idx, n := uint64(v>>16), uint64(v&0xffff)
	switch {
	case n <= 1:
	case a.pool.IsValid() && a.poolSize >= n:
		sp.addrOff, sp.addrStep, sp.addrN = idx, n, (a.poolSize-idx+n-1)/n
	default:
		sp.portOff, sp.portStep, sp.portN = idx, n, (portSpan-idx+n-1)/n
	}
	return sp
}

// shareAddr returns the share's j-th pool address (any j: it wraps).
func (a *allocator) shareAddr(sp *tupleSpace, j uint64) netip.Addr {
	return a.poolAddr(sp.addrOff + j%sp.addrN*sp.addrStep)
}

// port returns the share's j-th port (any j: it wraps).
func (sp *tupleSpace) port(j uint64) uint16 {
	return uint16(firstPort + sp.portOff + j%sp.portN*sp.portStep)
}

// hasPort reports whether the share may use port p.
func (sp *tupleSpace) hasPort(p uint16) bool {
	return sp.portStep == 1 || uint64(p) >= firstPort && (uint64(p)-firstPort)%sp.portStep == sp.portOff
}

// HandleLeaseRefused ends the session on t with fate lease_taken: a
// gateway refused its lease because another copier holds t, so its
// responses would never come. Nothing more is sent on t (at the target it
// is the other copier's session). The note travels to the owning worker
// as a record with no TCP flags (leaseRefusedNote), which no target
// segment is: the gateway client drops such records from gateways.
func (e *Engine) HandleLeaseRefused(t wire.Tuple) {
	e.HandleRecord(&wire.Record{Tuple: t, Flags: leaseRefusedNote})
}

// leaseRefusedNote is the flags of the in-process record that tells a
// worker a lease was refused.
const leaseRefusedNote uint8 = 0

// SetShare restricts the tuples new sessions take to the pool share a
// gateway gave this copier (GatewayConfig.OnShare).
func (e *Engine) SetShare(s wire.Share) { e.alloc.setShare(s) }

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
		a.shards[i].m = make(map[tupleKey]allocEntry)
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
	k := keyOf(t)
	if e, ok := sh.m[k]; ok && (e.worker >= 0 || e.until > now) {
		return false
	}
	sh.m[k] = allocEntry{worker: int32(w)}
	return true
}

// acquire picks and claims the tuple for copy c of the captured session
// orig, sent to target, owned by worker w.
func (a *allocator) acquire(orig wire.Tuple, target netip.AddrPort, c, w int, now int64) (wire.Tuple, bool) {
	sp := a.space()
	addr := orig.Client.Addr()
	var h uint64 // the client address's place in the share
	if a.pool.IsValid() {
		if addr.Is4() != a.pool.Addr().Is4() {
			return wire.Tuple{}, false
		}
		h = mix64(hashAddrPort(sampleKey+a.salt+uint64(c), netip.AddrPortFrom(addr, 0)))
		addr = a.shareAddr(&sp, h)
	}
	port := orig.Client.Port()
	t := wire.Tuple{Client: netip.AddrPortFrom(addr, port), Target: target}
	own := sp.hasPort(port)
	if own && (a.pool.IsValid() || c == 0) && a.tryTake(t, w, now) {
		return t, true
	}
	var k uint64
	if a.pool.IsValid() && own {
		// A client that reuses its port while the target still holds the
		// last connection on it in TIME_WAIT (short connections at a high
		// rate): the same port on the next pool addresses is almost
		// always free.
		for ; k < min(sp.addrN, maxSpill)-1; k++ {
			t.Client = netip.AddrPortFrom(a.shareAddr(&sp, h+1+k), port)
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
			ad = a.shareAddr(&sp, h+start+k)
		}
		t.Client = netip.AddrPortFrom(ad, sp.port(start+k*probeStride))
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
		sh.m[keyOf(t)] = allocEntry{worker: -1, until: now + a.timeWait}
	} else {
		delete(sh.m, keyOf(t))
	}
	sh.mu.Unlock()
}

// owner returns the worker owning the live session t.
func (a *allocator) owner(t wire.Tuple) (int, bool) {
	sh := a.shard(t)
	sh.mu.RLock()
	e, ok := sh.m[keyOf(t)]
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
