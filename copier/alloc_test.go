package copier

import (
	"net/netip"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
)

func TestAllocator(t *testing.T) {
	tw := int64(60 * time.Second)
	orig := wire.Tuple{Client: client4, Target: online4}
	t.Run("no pool", func(t *testing.T) {
		a := newAllocator(netip.Prefix{}, tw)
		t0, ok := a.acquire(orig, target4, 0, 0, 0)
		if !ok || t0.Client != client4 || t0.Target != target4 {
			t.Fatalf("copy 0 = %v, want the client tuple", t0)
		}
		t1, _ := a.acquire(orig, target4, 1, 1, 0)
		if t1.Client.Addr() != client4.Addr() || t1.Client.Port() == client4.Port() {
			t.Fatalf("copy 1 = %v, want another port on the client address", t1)
		}
		if w, ok := a.owner(t1); !ok || w != 1 {
			t.Fatalf("owner of copy 1 = %d %v", w, ok)
		}
		// The tuple is busy: a second connection's copy 0 moves.
		t0b, _ := a.acquire(orig, target4, 0, 0, 0)
		if t0b == t0 {
			t.Fatal("tuple handed out twice")
		}
		// Released: held in TIME_WAIT, then free.
		a.release(t0, 0)
		if _, ok := a.owner(t0); ok {
			t.Fatal("released tuple still owned")
		}
		if t2, _ := a.acquire(orig, target4, 0, 0, tw-1); t2 == t0 {
			t.Fatal("tuple reused within TIME_WAIT")
		}
		if t3, _ := a.acquire(orig, target4, 0, 0, tw); t3 != t0 {
			t.Fatalf("after TIME_WAIT got %v, want %v again", t3, t0)
		}
	})
	t.Run("tiny pool exhausts", func(t *testing.T) {
		a := newAllocator(netip.MustParsePrefix("10.88.0.1/32"), tw)
		seen := map[wire.Tuple]bool{}
		for i := range portSpan {
			o := wire.Tuple{Client: netip.AddrPortFrom(client4.Addr(), uint16(firstPort+i)), Target: online4}
			tu, ok := a.acquire(o, target4, 0, 0, 0)
			if !ok || seen[tu] || tu.Client.Addr() != netip.MustParseAddr("10.88.0.1") {
				t.Fatalf("acquire %d: %v %v", i, tu, ok)
			}
			seen[tu] = true
		}
		if _, ok := a.acquire(orig, target4, 0, 0, 0); ok {
			t.Fatal("acquired beyond the port space")
		}
	})
	t.Run("reused client port spills over the pool", func(t *testing.T) {
		// Short connections at a high rate: the client reuses its port
		// while the target still holds the last connection in TIME_WAIT.
		a := newAllocator(netip.MustParsePrefix("10.88.0.0/24"), tw)
		t0, _ := a.acquire(orig, target4, 0, 0, 0)
		a.release(t0, 0)
		t1, ok := a.acquire(orig, target4, 0, 0, 1)
		if !ok || t1 == t0 || t1.Client.Port() != orig.Client.Port() {
			t.Fatalf("reuse got %v (%v), want the client's port on another pool address than %v", t1, ok, t0)
		}
		if calls := a.calls(); calls != 3 {
			t.Fatalf("%d tuples tried for two sessions, want 3", calls)
		}
	})
	t.Run("exhausted space fails fast", func(t *testing.T) {
		a := newAllocator(netip.MustParsePrefix("10.88.0.1/32"), tw)
		for i := range portSpan {
			o := wire.Tuple{Client: netip.AddrPortFrom(client4.Addr(), uint16(firstPort+i)), Target: online4}
			tu, _ := a.acquire(o, target4, 0, 0, 0)
			a.release(tu, 0)
		}
		before := a.calls()
		if tu, ok := a.acquire(orig, target4, 0, 0, 1); ok {
			t.Fatalf("acquired %v with every tuple in TIME_WAIT", tu)
		}
		if n := a.calls() - before; n > maxProbe+1 {
			t.Fatalf("%d tuples tried before giving up, want at most %d", n, maxProbe+1)
		}
	})
	t.Run("ipv6 pool", func(t *testing.T) {
		a := newAllocator(netip.MustParsePrefix("2001:db8:88::/64"), tw)
		o := wire.Tuple{Client: client6, Target: online6}
		tu, ok := a.acquire(o, target6, 0, 0, 0)
		if !ok || !netip.MustParsePrefix("2001:db8:88::/64").Contains(tu.Client.Addr()) {
			t.Fatalf("got %v", tu)
		}
		if _, ok := a.acquire(wire.Tuple{Client: client4, Target: online4}, target4, 0, 0, 0); ok {
			t.Fatal("v4 client mapped into a v6 pool")
		}
	})
}

func TestWheel(t *testing.T) {
	w := newWheel(0)
	ms := wheelTick
	var fired []int64
	s1, s2, s3 := &session{}, &session{}, &session{}
	w.schedule(s1, 5*ms)
	w.schedule(s2, 10*int64(time.Second)) // beyond one revolution
	w.schedule(s3, 7*ms)
	w.schedule(s3, 3*ms) // earlier: moves
	w.schedule(s1, 9*ms) // later: ignored
	fire := func(s *session, now int64) { fired = append(fired, now); _ = s }
	w.advance(4*ms, fire)
	if len(fired) != 1 {
		t.Fatalf("fired %d by 4ms, want 1", len(fired))
	}
	w.advance(6*ms, fire)
	if len(fired) != 2 {
		t.Fatalf("fired %d by 6ms, want 2", len(fired))
	}
	w.advance(9*int64(time.Second), fire)
	if len(fired) != 2 || w.n != 1 {
		t.Fatalf("the 10s entry fired early (%d) or got lost (n=%d)", len(fired), w.n)
	}
	w.advance(10*int64(time.Second), fire)
	if len(fired) != 3 || w.n != 0 {
		t.Fatalf("fired %d, n %d", len(fired), w.n)
	}
	w.schedule(s1, 20*int64(time.Second))
	w.remove(s1)
	w.advance(30*int64(time.Second), fire)
	if len(fired) != 3 {
		t.Fatal("removed entry fired")
	}
}

// An entry re-armed from its own firing for "now" fires on the next tick,
// not a revolution later.
func TestWheelRearmFromFire(t *testing.T) {
	w := newWheel(0)
	s := &session{}
	w.schedule(s, 5*wheelTick)
	var fired []int64
	var fire func(*session, int64)
	fire = func(s *session, now int64) {
		fired = append(fired, now)
		if len(fired) == 1 {
			w.schedule(s, now)
		}
	}
	w.advance(5*wheelTick, fire)
	w.advance(6*wheelTick, fire)
	if len(fired) != 2 || fired[1] != 6*wheelTick {
		t.Fatalf("fired at %v, want [5ms 6ms]", fired)
	}
}

// A rerun of the copier must not map clients onto the tuples the previous
// run left in the target's TIME_WAIT: each allocator salts the pool hash.
func TestAllocatorRunsDiffer(t *testing.T) {
	pool := netip.MustParsePrefix("10.88.0.0/24")
	target := netip.MustParseAddrPort("10.77.0.30:80")
	a, b := newAllocator(pool, int64(time.Minute)), newAllocator(pool, int64(time.Minute))
	same := 0
	for i := 1; i <= 16; i++ {
		orig := wire.Tuple{
			Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 77, 0, byte(i)}), uint16(40000+i)),
			Target: netip.MustParseAddrPort("10.77.0.20:80"),
		}
		ta, ok1 := a.acquire(orig, target, 0, 0, 0)
		tb, ok2 := b.acquire(orig, target, 0, 0, 0)
		if !ok1 || !ok2 {
			t.Fatal("acquire failed")
		}
		if !pool.Contains(ta.Client.Addr()) || ta.Client.Port() != uint16(40000+i) {
			t.Fatalf("tuple %v: want a pool address and the client's port", ta)
		}
		if ta == tb {
			same++
		}
	}
	if same == 16 {
		t.Errorf("two allocators mapped all 16 clients to the same tuples: runs would collide in TIME_WAIT")
	}
}

// calls is how many tuples the allocator has tried.
func (a *allocator) calls() int {
	n := 0
	for i := range a.shards {
		n += a.shards[i].calls
	}
	return n
}

// The shares of one pool are disjoint and cover the whole (address, port)
// space, whichever way it is split (by address when the pool has at least
// Count addresses, by port otherwise or without a pool).
func TestAllocatorSharesPartitionSpace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pool   string // "" no pool
		count  uint16
		byAddr bool
	}{
		{"whole /24", "10.88.0.0/24", 1, true},
		{"/24 in 2", "10.88.0.0/24", 2, true},
		{"/24 in 5", "10.88.0.0/24", 5, true},
		{"/24 in 254", "10.88.0.0/24", 254, true},
		{"/30 in 3: by port", "10.88.0.0/30", 3, false},
		{"/120 v6 in 7", "fd00:88::/120", 7, true},
		{"no pool in 4: by port", "", 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pool netip.Prefix
			if tc.pool != "" {
				pool = netip.MustParsePrefix(tc.pool)
			}
			a := newAllocator(pool, 0)
			addrOwner := map[netip.Addr]int{}
			portOwner := map[uint16]int{}
			var covered uint64
			for i := range tc.count {
				a.setShare(wire.Share{Index: i, Count: tc.count})
				sp := a.space()
				if got := sp.addrStep > 1; got != (tc.byAddr && tc.count > 1) {
					t.Fatalf("share %d: split by address %v, want %v", i, got, tc.byAddr)
				}
				covered += sp.addrN * sp.portN
				if tc.byAddr && tc.count > 1 {
					for j := range sp.addrN {
						ad := a.shareAddr(&sp, j)
						if o, dup := addrOwner[ad]; dup || !pool.Contains(ad) {
							t.Fatalf("share %d: address %v also in share %d (or outside the pool)", i, ad, o)
						}
						addrOwner[ad] = int(i)
					}
				} else if tc.count > 1 {
					for j := range sp.portN {
						p := sp.port(j)
						if o, dup := portOwner[p]; dup || p < firstPort || !sp.hasPort(p) {
							t.Fatalf("share %d: port %d also in share %d (or out of range)", i, p, o)
						}
						portOwner[p] = int(i)
					}
				}
			}
			whole := uint64(portSpan) * max(a.poolSize, 1)
			if covered != whole {
				t.Fatalf("shares cover %d tuples, the space has %d", covered, whole)
			}
			if tc.byAddr && tc.count > 1 && uint64(len(addrOwner)) != a.poolSize {
				t.Fatalf("%d addresses covered, pool has %d", len(addrOwner), a.poolSize)
			}
			if !tc.byAddr && len(portOwner) != portSpan {
				t.Fatalf("%d ports covered, want %d", len(portOwner), portSpan)
			}
		})
	}
}

// Two copiers replaying the same captured connections, each in its share
// of one pool: never one tuple for both, every tuple inside its share, the
// client's port kept, and a port reused within TIME_WAIT lands on the same
// port of the next address of the share.
func TestAllocatorSharesTwoCopiers(t *testing.T) {
	tw := int64(60 * time.Second)
	pool := netip.MustParsePrefix("10.88.0.0/24")
	copiers := [2]*allocator{newAllocator(pool, tw), newAllocator(pool, tw)}
	for i, a := range copiers {
		a.setShare(wire.Share{Index: uint16(i), Count: 2})
	}
	taken := map[wire.Tuple]int{}
	inShare := func(i int, ad netip.Addr) bool { return (ad.As4()[3]-1)%2 == byte(i) } // host index 1.. -> pool index 0..
	for round := range 3 {                                                             // the clients reuse their ports: round 1 and 2 fall in TIME_WAIT
		for c := range 200 {
			orig := wire.Tuple{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(c)}), uint16(40000+c)), Target: online4}
			for i, a := range copiers {
				tu, ok := a.acquire(orig, target4, 0, 0, int64(round))
				if !ok {
					t.Fatalf("round %d conn %d copier %d: no tuple", round, c, i)
				}
				if o, dup := taken[tu]; dup {
					t.Fatalf("round %d: %v taken by copier %d and %d", round, tu, o, i)
				}
				taken[tu] = i
				if !inShare(i, tu.Client.Addr()) || tu.Client.Port() != orig.Client.Port() {
					t.Fatalf("copier %d got %v for %v: outside its share or not the client's port", i, tu, orig)
				}
				a.release(tu, int64(round))
			}
		}
	}
	// A share change applies to new tuples only, and back to whole.
	copiers[0].setShare(wire.Share{Count: 1})
	if sp := copiers[0].space(); sp.addrStep != 1 || sp.addrN != 254 || sp.portN != portSpan {
		t.Fatalf("whole share: %+v", sp)
	}
}

// A lease a gateway refused ends its session with fate lease_taken and
// nothing more is sent on the tuple (it is another copier's), in SYN-SENT
// and when established; a note for a tuple with no session is ignored.
func TestLeaseRefusedEndsSession(t *testing.T) {
	for _, established := range []bool{false, true} {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		var tu wire.Tuple
		if established {
			tu = r.established(c, false)
		} else {
			c.handshake(time.Millisecond)
			sent := r.snd.take()
			if len(sent) != 1 {
				t.Fatalf("sent %+v, want the SYN", sent)
			}
			tu = tupleOf(sent[0])
		}
		r.e.HandleLeaseRefused(tu)
		r.e.HandleLeaseRefused(wire.Tuple{Client: netip.MustParseAddrPort("10.99.0.1:1"), Target: target4})
		r.wantFates(FateLeaseTaken)
		c.data("after")
		r.advance(5 * time.Second)
		if sent := r.snd.take(); len(sent) != 0 {
			t.Fatalf("established %v: sent %+v on a refused tuple", established, sent)
		}
	}
}
