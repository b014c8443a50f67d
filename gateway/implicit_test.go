package gateway_test

import (
	"testing"
	"time"

	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/wire"
)

// Implicit leases: a copier alone on the gateway leases nothing for plain
// sessions and still gets their records; a lease with flags is sent. When
// a second copier splits the pool, the first leases its live sessions,
// keeps its records, and unleased records stop reaching it after the
// grace; when the second leaves, they reach it again.
func TestServerImplicitLeases(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	st := s.Stats()
	a, b := &sink{}, &sink{}
	// Releases ride with the next lease or ping: ping often.
	ga := newClient(t, addr, copier.GatewayConfig{Name: "a", OnRecord: a.on, ImplicitLeases: true, PingInterval: 20 * time.Millisecond})

	if !ga.AddLease(tuple(1), 0, 0) || !ga.AddLease(tuple(2), 0, copier.LeasePayload) {
		t.Fatal("AddLease false with the gateway connected")
	}
	waitFor(t, "the flagged lease", func() bool { return s.Leases() == 1 })
	time.Sleep(20 * time.Millisecond)
	if n := s.Leases(); n != 1 || ga.Stats().LeasesImplicit.Load() != 1 || ga.Leases() != 2 {
		t.Fatalf("gateway holds %d leases, copier %d (implicit %d); want 1 on the gateway, 2 in the copier",
			n, ga.Leases(), ga.Stats().LeasesImplicit.Load())
	}
	s.Deliver(&wire.Record{Tuple: tuple(1), Seq: 1, Flags: wire.FlagSYN | wire.FlagACK})
	s.Deliver(&wire.Record{Tuple: tuple(2), Seq: 2, Flags: wire.FlagSYN | wire.FlagACK})
	waitFor(t, "both records", func() bool { return len(a.get()) == 2 })
	if st.RecordsImplicit.Load() != 1 || st.Unrouted.Load() != 0 {
		t.Fatalf("implicit %d, unrouted %d; want 1, 0", st.RecordsImplicit.Load(), st.Unrouted.Load())
	}

	// A second copier splits the pool: a leases tuple(1) now.
	gb := newClient(t, addr, copier.GatewayConfig{Name: "b", OnRecord: b.on, ImplicitLeases: true})
	waitFor(t, "a's live session leased", func() bool { return s.Leases() == 2 })
	if !gb.AddLease(tuple(7), 0, 0) {
		t.Fatal("AddLease false on the second copier")
	}
	waitFor(t, "b's lease (explicit: the pool is split)", func() bool { return s.Leases() == 3 })
	s.Deliver(&wire.Record{Tuple: tuple(1), Seq: 3, Flags: wire.FlagACK})
	s.Deliver(&wire.Record{Tuple: tuple(7), Seq: 4, Flags: wire.FlagACK})
	waitFor(t, "records after the split", func() bool { return len(a.get()) == 3 && len(b.get()) == 1 })

	time.Sleep(wire.ImplicitGrace + 100*time.Millisecond)
	s.Deliver(&wire.Record{Tuple: tuple(9), Seq: 5, Flags: wire.FlagACK})
	if st.Unrouted.Load() != 1 {
		t.Fatalf("unrouted %d after the grace, want 1", st.Unrouted.Load())
	}

	// a's leases go with their release, tuple(1) included.
	ga.ReleaseLease(tuple(1))
	waitFor(t, "a's release", func() bool { return s.Leases() == 2 })

	// b leaves: a has the whole pool again.
	gb.Close()
	waitFor(t, "b gone", func() bool { return st.CopiersConn.Load() == 1 })
	waitFor(t, "an unleased record to a", func() bool {
		s.Deliver(&wire.Record{Tuple: tuple(11), Seq: 6, Flags: wire.FlagACK})
		return len(a.get()) >= 4
	})
	for _, r := range a.get()[3:] {
		if r.Tuple != tuple(11) {
			t.Fatalf("a got %v, want only tuple 11's records", r.Tuple)
		}
	}
	if n := len(b.get()); n != 1 {
		t.Fatalf("b got %d records, want 1", n)
	}
}

// A copier that does not ask for implicit leases leases everything, and
// records nobody leased are unrouted as before.
func TestServerNoImplicitLeasesWithoutTheCapability(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	a := &sink{}
	ga := newClient(t, addr, copier.GatewayConfig{Name: "a", OnRecord: a.on})
	ga.AddLease(tuple(1), 0, 0)
	waitFor(t, "the lease", func() bool { return s.Leases() == 1 })
	s.Deliver(&wire.Record{Tuple: tuple(2), Flags: wire.FlagACK})
	if st := s.Stats(); st.Unrouted.Load() != 1 || st.RecordsImplicit.Load() != 0 {
		t.Fatalf("unrouted %d, implicit %d; want 1, 0", st.Unrouted.Load(), st.RecordsImplicit.Load())
	}
}
