package gateway

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
)

type fakeClock struct{ ns int64 }

func (c *fakeClock) now() int64              { return c.ns }
func (c *fakeClock) advance(d time.Duration) { c.ns += int64(d) }

// newTestServer builds a server without listeners, with a fake clock.
func newTestServer(t testing.TB, cfg ServerConfig) (*Server, *fakeClock) {
	t.Helper()
	clk := &fakeClock{ns: 1e9}
	cfg.clock = clk.now
	if cfg.Token == "" {
		cfg.Token = "tok"
	}
	s, err := NewServer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// queuedRecords decodes what a peer has queued (without a connection).
func queuedRecords(t testing.TB, p *peer) []wire.Record {
	t.Helper()
	batches, n := p.takeAll()
	var out []wire.Record
	for _, b := range batches {
		err := wire.Batch(b, func(_ int, e []byte) (int, error) {
			var r wire.Record
			k, err := wire.DecodeRecord(e, &r)
			r.Payload = append([]byte(nil), r.Payload...)
			out = append(out, r)
			return k, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out) != n {
		t.Fatalf("decoded %d records, queue said %d", len(out), n)
	}
	return out
}

func tup(i int) wire.Tuple {
	return wire.Tuple{
		Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 88, byte(i >> 8), byte(i)}), uint16(40000+i%1000)),
		Target: netip.MustParseAddrPort("10.77.0.30:80"),
	}
}

func rec(tu wire.Tuple, flags uint8, seq uint32) *wire.Record {
	return &wire.Record{Tuple: tu, Flags: flags, Seq: seq, Window: 1000}
}

// inst is a copier instance identity for tests.
func inst(n byte) [16]byte { return [16]byte{15: n} }

func TestLeaseTakeLookupRelease(t *testing.T) {
	s, clk := newTestServer(t, ServerConfig{})
	a, b := newPeer(s, nil, inst(1), 0, s.log), newPeer(s, nil, inst(2), 0, s.log)
	rt := s.leases
	v6 := wire.Tuple{Client: netip.MustParseAddrPort("[fd00:88::1]:1234"), Target: netip.MustParseAddrPort("[fd00:77::30]:443")}
	rt.take(tup(1), 0, a)
	rt.take(v6, time.Minute, b)
	now := clk.now()
	if rt.lookup(tup(1), now) != a || rt.lookup(v6, now) != b || rt.lookup(tup(2), now) != nil {
		t.Fatal("lookup does not return the owners")
	}
	if rt.release(tup(1), b) {
		t.Fatal("a copier released another copier's lease")
	}
	if !rt.release(tup(1), a) || rt.lookup(tup(1), now) != nil {
		t.Fatal("delete failed")
	}
	if rt.take(v6, time.Minute, a) { // another copier's live lease
		t.Fatal("a copier took over another copier's live lease")
	}
	if rt.lookup(v6, now) != b || s.st.LeasesRefused.Load() != 1 {
		t.Fatalf("owner %p (want b), refused %d", rt.lookup(v6, now), s.st.LeasesRefused.Load())
	}
	if got := s.st.RoutesAdded.Load(); got != 2 {
		t.Fatalf("routes_added %d", got)
	}
	if s.st.RoutesDeleted.Load() != 1 || s.st.RoutesActive.Load() != 1 || rt.len() != 1 {
		t.Fatalf("deleted %d active %d len %d", s.st.RoutesDeleted.Load(), s.st.RoutesActive.Load(), rt.len())
	}
	if n := rt.removeOwner(b); n != 1 || rt.len() != 0 || s.st.RoutesOrphaned.Load() != 1 {
		t.Fatalf("removeOwner: %d, len %d", n, rt.len())
	}
}

// Two copiers, one tuple: the second is refused and counted, the first
// keeps its lease and its records; the same copier's new connection (a
// reconnect) takes its own lease over; an expired lease is free.
func TestLeaseRefusedToAnotherCopier(t *testing.T) {
	s, clk := newTestServer(t, ServerConfig{LeaseTTL: 10 * time.Second})
	first, second := newPeer(s, nil, inst(1), 0, s.log), newPeer(s, nil, inst(2), 0, s.log)
	reconnect := newPeer(s, nil, inst(1), 0, s.log)
	probe1, probe2 := newPeer(s, nil, inst(0), 0, s.log), newPeer(s, nil, inst(0), 0, s.log) // no instance
	rt := s.leases
	for _, tc := range []struct {
		name      string
		p         *peer
		ttl       time.Duration
		advance   time.Duration
		wantOK    bool
		wantOwner *peer
		refused   uint64
	}{
		{"first takes", first, 0, 0, true, first, 0},
		{"second refused", second, time.Minute, 0, false, first, 1},
		{"second refused again", second, 0, 5 * time.Second, false, first, 2},
		{"first renews", first, 0, 0, true, first, 2},
		{"same instance, new connection", reconnect, 0, 0, true, reconnect, 2},
		{"other copier after expiry", second, 0, 11 * time.Second, true, second, 2},
	} {
		clk.advance(tc.advance)
		if ok := rt.take(tup(1), tc.ttl, tc.p); ok != tc.wantOK {
			t.Fatalf("%s: take %v, want %v", tc.name, ok, tc.wantOK)
		}
		if got := rt.lookup(tup(1), clk.now()); got != tc.wantOwner {
			t.Fatalf("%s: owner %p, want %p", tc.name, got, tc.wantOwner)
		}
		if got := s.st.LeasesRefused.Load(); got != tc.refused {
			t.Fatalf("%s: refused %d, want %d", tc.name, got, tc.refused)
		}
		if rt.len() != 1 || s.st.RoutesActive.Load() != 1 {
			t.Fatalf("%s: %d leases, active %d", tc.name, rt.len(), s.st.RoutesActive.Load())
		}
	}
	if rt.release(tup(1), first) || rt.lookup(tup(1), clk.now()) != second {
		t.Fatal("the first copier released the lease the second now holds")
	}
	if !rt.take(tup(2), 0, probe1) || rt.take(tup(2), 0, probe2) || rt.lookup(tup(2), clk.now()) != probe1 {
		t.Fatal("two peers without an instance were taken for one copier")
	}
}

func TestLeaseExpiry(t *testing.T) {
	s, clk := newTestServer(t, ServerConfig{LeaseTTL: 10 * time.Second})
	p := newPeer(s, nil, inst(0), 0, s.log)
	rt := s.leases
	rt.take(tup(1), 0, p)             // default TTL 10s
	rt.take(tup(2), 3*time.Second, p) // its own TTL
	rt.take(tup(3), 3*time.Second, p) // kept alive by traffic

	for i := 0; i < 4; i++ { // 4s, traffic every second refreshes tup(3)
		clk.advance(time.Second)
		if rt.lookup(tup(3), clk.now()) != p {
			t.Fatalf("t+%ds: live lease lost", i+1)
		}
	}
	if rt.lookup(tup(2), clk.now()) != nil {
		t.Fatal("lease past its TTL still delivers")
	}
	if r, _ := rt.expire(clk.now()); r != 1 {
		t.Fatalf("expired %d leases at t+4s, want 1", r)
	}
	clk.advance(7 * time.Second) // t+11s: tup(1)'s default TTL is over, tup(3) idle 7s
	if r, _ := rt.expire(clk.now()); r != 2 {
		t.Fatalf("expired %d leases at t+11s, want 2", r)
	}
	if s.st.RoutesExpired.Load() != 3 || s.st.RoutesActive.Load() != 0 || rt.len() != 0 {
		t.Fatalf("expired %d active %d", s.st.RoutesExpired.Load(), s.st.RoutesActive.Load())
	}
	rt.take(tup(4), time.Second, p) // re-add refreshes
	clk.advance(900 * time.Millisecond)
	rt.take(tup(4), time.Second, p)
	clk.advance(900 * time.Millisecond)
	if rt.lookup(tup(4), clk.now()) != p {
		t.Fatal("re-add did not refresh the TTL")
	}
}

func TestEarlyHold(t *testing.T) {
	s, clk := newTestServer(t, ServerConfig{HoldEarly: 2 * time.Second, PayloadCap: 16})
	p := newPeer(s, nil, inst(0), 16, s.log)

	synack := rec(tup(1), wire.FlagSYN|wire.FlagACK, 100)
	rst := rec(tup(2), wire.FlagRST, 200)
	rst.Payload, rst.PayloadLen = []byte("bye"), 3
	data := rec(tup(3), wire.FlagACK|wire.FlagPSH, 300)
	syn := rec(tup(4), wire.FlagSYN, 400)
	for _, r := range []*wire.Record{synack, rst, data, syn} {
		s.Deliver(r)
	}
	rst.Payload[0] = 'X' // the hold must own its copy
	if s.st.HeldEarly.Load() != 2 || s.st.Unrouted.Load() != 2 {
		t.Fatalf("held %d unrouted %d, want 2 and 2", s.st.HeldEarly.Load(), s.st.Unrouted.Load())
	}

	clk.advance(time.Second)
	s.leases.take(tup(1), 0, p)
	s.leases.take(tup(2), 0, p)
	got := queuedRecords(t, p)
	if len(got) != 2 || got[0].Seq != 100 || got[1].Seq != 200 || string(got[1].Payload) != "bye" {
		t.Fatalf("delivered %+v", got)
	}
	if s.st.HeldDelivered.Load() != 2 || s.st.RecordsRouted.Load() != 2 {
		t.Fatalf("held_delivered %d routed %d", s.st.HeldDelivered.Load(), s.st.RecordsRouted.Load())
	}

	// A hold whose lease never comes expires after HoldEarly.
	late := rec(tup(5), wire.FlagSYN|wire.FlagACK, 500)
	s.Deliver(late)
	clk.advance(1500 * time.Millisecond)
	if _, h := s.leases.expire(clk.now()); h != 0 {
		t.Fatalf("expired %d holds after 1.5s", h)
	}
	clk.advance(time.Second)
	if _, h := s.leases.expire(clk.now()); h != 1 {
		t.Fatalf("expired %d holds after 2.5s, want 1", h)
	}
	s.leases.take(tup(5), 0, p)
	if got := queuedRecords(t, p); len(got) != 0 || s.st.HeldExpired.Load() != 1 {
		t.Fatalf("expired hold delivered: %+v", got)
	}
}

func TestEarlyHoldBounded(t *testing.T) {
	s, _ := newTestServer(t, ServerConfig{HoldMax: 10})
	for i := 0; i < 8; i++ { // same tuple: at most maxHeldPerTuple
		s.Deliver(rec(tup(1), wire.FlagSYN|wire.FlagACK, uint32(i)))
	}
	for i := 2; i < 20; i++ {
		s.Deliver(rec(tup(i), wire.FlagRST, 0))
	}
	if s.st.HeldEarly.Load() != 10 || s.st.DroppedHold.Load() != 16 {
		t.Fatalf("held %d dropped %d, want 10 and 16", s.st.HeldEarly.Load(), s.st.DroppedHold.Load())
	}
	off, _ := newTestServer(t, ServerConfig{HoldEarly: -1})
	off.Deliver(rec(tup(1), wire.FlagSYN|wire.FlagACK, 0))
	if off.st.HeldEarly.Load() != 0 || off.st.DroppedHold.Load() != 1 {
		t.Fatal("hold not disabled by a negative HoldEarly")
	}
}

// TestHoldRaceWithAdd runs early records and lease adds concurrently: every
// held record must be delivered exactly once, none stranded.
func TestHoldRaceWithAdd(t *testing.T) {
	s, _ := newTestServer(t, ServerConfig{HoldMax: 1 << 20, CopierQueue: 1 << 20})
	p := newPeer(s, nil, inst(0), 0, s.log)
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			s.Deliver(rec(tup(i), wire.FlagSYN|wire.FlagACK, uint32(i)))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			s.leases.take(tup(i), 0, p)
		}
	}()
	wg.Wait()
	got := queuedRecords(t, p)
	seen := map[uint32]int{}
	for _, r := range got {
		seen[r.Seq]++
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("%d records delivered (%d distinct), want %d; held now %d", len(got), len(seen), n, s.leases.hold.count.Load())
	}
}

func TestPeerQueueBoundsAndBatches(t *testing.T) {
	s, _ := newTestServer(t, ServerConfig{CopierQueue: wire.MaxBatch + 10, PayloadCap: 8})
	p := newPeer(s, nil, inst(0), 4, s.log) // the copier asked for 4 bytes
	s.leases.take(tup(1), 0, p)
	r := rec(tup(1), wire.FlagACK, 0)
	r.Payload, r.PayloadLen = []byte("abcdefgh"), 8
	for i := 0; i < wire.MaxBatch+20; i++ {
		r.Seq = uint32(i)
		s.Deliver(r)
	}
	if s.st.DroppedQueue.Load() != 10 || s.st.RecordsRouted.Load() != wire.MaxBatch+10 {
		t.Fatalf("dropped %d routed %d", s.st.DroppedQueue.Load(), s.st.RecordsRouted.Load())
	}
	batches, _ := p.takeAll()
	if len(batches) != 2 {
		t.Fatalf("%d batches, want 2 (MaxBatch splits)", len(batches))
	}
	p.recycle(batches)
	s.Deliver(r)
	got := queuedRecords(t, p)
	if len(got) != 1 || string(got[0].Payload) != "abcd" || got[0].PayloadLen != 8 {
		t.Fatalf("after drain: %+v", got)
	}
	p.stop()
	s.Deliver(r)
	if s.st.DroppedGone.Load() != 1 {
		t.Fatalf("copier_gone %d", s.st.DroppedGone.Load())
	}
}

func TestDeliverAllocs(t *testing.T) {
	s, _ := newTestServer(t, ServerConfig{CopierQueue: 1 << 30})
	p := newPeer(s, nil, inst(0), 0, s.log)
	s.leases.take(tup(1), 0, p)
	r := rec(tup(1), wire.FlagACK, 1)
	for i := 0; i < 10; i++ {
		s.Deliver(r) // warm the buffer
	}
	miss := rec(tup(2), wire.FlagACK, 1)
	n := testing.AllocsPerRun(1000, func() {
		s.Deliver(r)
		s.Deliver(miss)
	})
	if n != 0 {
		t.Fatalf("%v allocs per Deliver, want 0", n)
	}
}

func BenchmarkDeliver(b *testing.B) {
	for _, leases := range []int{1, 100000} {
		b.Run(fmt.Sprintf("leases=%d", leases), func(b *testing.B) {
			s, _ := newTestServer(b, ServerConfig{CopierQueue: 1 << 20})
			p := newPeer(s, nil, inst(0), 0, s.log)
			for i := 0; i < leases; i++ {
				s.leases.take(tup(i), 0, p)
			}
			recs := make([]*wire.Record, leases)
			for i := range recs {
				recs[i] = rec(tup(i), wire.FlagACK, uint32(i))
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					s.Deliver(recs[i%leases])
					i++
					if i%4096 == 0 {
						p.recycle(func() [][]byte { bs, _ := p.takeAll(); return bs }())
					}
				}
			})
		})
	}
}

func BenchmarkDeliverSerial(b *testing.B) {
	s, _ := newTestServer(b, ServerConfig{CopierQueue: 1 << 20})
	p := newPeer(s, nil, inst(0), 0, s.log)
	const leases = 10000
	for i := 0; i < leases; i++ {
		s.leases.take(tup(i), 0, p)
	}
	recs := make([]*wire.Record, leases)
	for i := range recs {
		recs[i] = rec(tup(i), wire.FlagACK, uint32(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Deliver(recs[i%leases])
		i++
		if i%4096 == 0 {
			bs, _ := p.takeAll()
			p.recycle(bs)
		}
	}
}
