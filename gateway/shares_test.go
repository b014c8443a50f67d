package gateway_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/wire"
)

// shareWatch records the shares a gateway client hands its allocator.
type shareWatch struct {
	mu  sync.Mutex
	cur wire.Share
}

func (w *shareWatch) on(s wire.Share) { w.mu.Lock(); w.cur = s; w.mu.Unlock() }
func (w *shareWatch) get() wire.Share { w.mu.Lock(); defer w.mu.Unlock(); return w.cur }

// Two copiers, one tuple: the second copier's lease is refused and counted
// on both sides and it is told; the first keeps its lease and receives
// every record.
func TestServerLeaseRefusedToSecondCopier(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	first, second := &sink{}, &sink{}
	refused := make(chan wire.Tuple, 4)
	ga := newClient(t, addr, copier.GatewayConfig{Name: "first", OnRecord: first.on})
	gb := newClient(t, addr, copier.GatewayConfig{Name: "second", OnRecord: second.on,
		OnLeaseRefused: func(tu wire.Tuple) { refused <- tu }})
	ga.AddLease(tuple(1), 0, 0)
	waitFor(t, "first lease", func() bool { return s.Leases() == 1 })
	if !gb.AddLease(tuple(1), 0, 0) {
		t.Fatal("AddLease false with a gateway connected")
	}
	waitFor(t, "refusal", func() bool { return len(refused) == 1 })
	if tu := <-refused; tu != tuple(1) {
		t.Fatalf("refused %v, want %v", tu, tuple(1))
	}
	st := s.Stats()
	if st.LeasesRefused.Load() != 1 || gb.Stats().LeasesRefused.Load() != 1 || gb.Leases() != 0 || ga.Leases() != 1 {
		t.Fatalf("gateway refused %d, copier refused %d, leases: second %d first %d",
			st.LeasesRefused.Load(), gb.Stats().LeasesRefused.Load(), gb.Leases(), ga.Leases())
	}
	for i := range 10 {
		s.Deliver(&wire.Record{Tuple: tuple(1), Seq: uint32(i), Flags: wire.FlagACK})
	}
	waitFor(t, "records to the first copier", func() bool { return len(first.get()) == 10 })
	if n := len(second.get()); n != 0 || s.Leases() != 1 {
		t.Fatalf("the second copier got %d records; %d leases", n, s.Leases())
	}
}

// One copier has the whole pool, two halve it, three take thirds; when
// the copier of the highest share leaves the others are told the smaller
// count. A copier keeps its index while it is connected.
func TestServerPoolShares(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	var w [3]shareWatch
	var cl [3]*copier.GatewayClient
	want := func(what string, shares ...wire.Share) {
		t.Helper()
		waitFor(t, what, func() bool {
			for i, sh := range shares {
				if w[i].get() != sh {
					return false
				}
			}
			return true
		})
	}
	cl[0] = newClient(t, addr, copier.GatewayConfig{Name: "c0", OnShare: w[0].on})
	if sh := cl[0].Share(); sh != (wire.Share{Count: 1}) {
		t.Fatalf("one copier: %+v, want the whole pool", sh)
	}
	cl[1] = newClient(t, addr, copier.GatewayConfig{Name: "c1", OnShare: w[1].on})
	want("two copiers", wire.Share{Index: 0, Count: 2}, wire.Share{Index: 1, Count: 2})
	cl[2] = newClient(t, addr, copier.GatewayConfig{Name: "c2", OnShare: w[2].on})
	want("three copiers", wire.Share{Index: 0, Count: 3}, wire.Share{Index: 1, Count: 3}, wire.Share{Index: 2, Count: 3})
	cl[2].Close()
	want("the third left", wire.Share{Index: 0, Count: 2}, wire.Share{Index: 1, Count: 2})
	cl[0].Close()
	waitFor(t, "one copier left", func() bool { return s.Stats().CopiersConn.Load() == 1 })
	// Index 1 is still held: two shares, the lower one free for the next.
	if sh := w[1].get(); sh != (wire.Share{Index: 1, Count: 2}) {
		t.Fatalf("after the first left: %+v", sh)
	}
	var w3 shareWatch
	newClient(t, addr, copier.GatewayConfig{Name: "c3", OnShare: w3.on})
	waitFor(t, "newcomer takes the free index", func() bool { return w3.get() == wire.Share{Index: 0, Count: 2} })
}

// Beyond PoolShares copier instances the next is refused with a clear
// error, counted.
func TestServerPoolSharesFull(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{PoolShares: 1})
	newClient(t, addr, copier.GatewayConfig{Name: "c0"})
	cfg := copier.GatewayConfig{Addrs: []string{addr}, Token: "tok", Name: "c1"}
	g := copier.NewGatewayClient(cfg)
	t.Cleanup(func() { g.Close() })
	waitFor(t, "refusal counted", func() bool { return s.Stats().SharesRefused.Load() >= 1 && g.Stats().DialFailures.Load() >= 1 })
	if g.Connected() != 0 {
		t.Fatal("a copier beyond the shares connected")
	}
}

// A peer that picks no tuples (doctor's probe: no CapLeaseShare) takes no
// share: the copier keeps the whole pool while it is connected.
func TestServerProbeTakesNoShare(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	var w shareWatch
	newClient(t, addr, copier.GatewayConfig{Name: "c0", OnShare: w.on})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, share, err := wire.HandshakeShare(wire.NewConn(nc), wire.Hello{Role: wire.RoleCopier, Name: "probe"}, []byte("tok"), 5*time.Second, nil)
	if err != nil || share != (wire.Share{Count: 1}) {
		t.Fatalf("probe: share %+v, %v", share, err)
	}
	waitFor(t, "probe connected", func() bool { return s.Stats().CopiersConn.Load() == 2 })
	if sh := w.get(); sh.Count > 1 {
		t.Fatalf("the copier's share became %+v with a probe connected", sh)
	}
	// A second copier gets the second of two shares: the probe holds none.
	var w2 shareWatch
	newClient(t, addr, copier.GatewayConfig{Name: "c1", OnShare: w2.on})
	waitFor(t, "two shares", func() bool {
		return w.get() == wire.Share{Index: 0, Count: 2} && w2.get() == wire.Share{Index: 1, Count: 2}
	})
	if s.Stats().CopiersTotal.Load() != 3 {
		t.Fatalf("%d connections accepted, want 3", s.Stats().CopiersTotal.Load())
	}
}
