package gateway_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/wire"
)

var quiet = slog.New(slog.DiscardHandler)

func startServer(t testing.TB, cfg gateway.ServerConfig) (*gateway.Server, string) {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = "tok"
	}
	s, err := gateway.NewServer(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

type sink struct {
	mu   sync.Mutex
	recs []wire.Record
}

func (s *sink) on(r *wire.Record) {
	c := *r
	c.Payload = append([]byte(nil), r.Payload...)
	s.mu.Lock()
	s.recs = append(s.recs, c)
	s.mu.Unlock()
}

func (s *sink) get() []wire.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Record(nil), s.recs...)
}

func newClient(t testing.TB, addr string, cfg copier.GatewayConfig) *copier.GatewayClient {
	t.Helper()
	cfg.Addrs = []string{addr}
	if cfg.Token == "" {
		cfg.Token = "tok"
	}
	cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	g := copier.NewGatewayClient(cfg)
	t.Cleanup(func() { g.Close() })
	waitFor(t, "copier connected", func() bool { return g.Connected() == 1 })
	return g
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func tuple(i int) wire.Tuple {
	return wire.Tuple{
		Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 88, byte(i >> 8), byte(i)}), uint16(40000+i%20000)),
		Target: netip.MustParseAddrPort("10.77.0.30:80"),
	}
}

var v6tuple = wire.Tuple{Client: netip.MustParseAddrPort("[fd00:88::9]:41000"), Target: netip.MustParseAddrPort("[fd00:77::30]:443")}

// sameRecord compares the fields a copier relies on.
func sameRecord(a, b *wire.Record) bool {
	return a.Tuple == b.Tuple && a.Seq == b.Seq && a.Ack == b.Ack && a.Window == b.Window && a.Flags == b.Flags &&
		a.PayloadLen == b.PayloadLen && a.Opts == b.Opts && a.Time == b.Time && bytes.Equal(a.Payload, b.Payload)
}

func TestServerDeliversRecordsToLeaseOwner(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{PayloadCap: 64})
	got := &sink{}
	g := newClient(t, addr, copier.GatewayConfig{PayloadCap: 8, OnRecord: got.on})
	g.AddLease(tuple(1), time.Minute, 0)
	g.AddLease(v6tuple, 0, 0)
	waitFor(t, "leases", func() bool { return s.Leases() == 2 })

	body := []byte("HTTP/1.1 200 OK\r\n")
	sent := []wire.Record{
		{Tuple: tuple(1), Seq: 1000, Ack: 2000, Window: 512, Flags: wire.FlagSYN | wire.FlagACK,
			Opts: wire.Options{Has: wire.OptMSS | wire.OptWScale | wire.OptTimestamp, MSS: 1460, WScale: 7, TSVal: 5, TSEcr: 6}, Time: 111},
		{Tuple: v6tuple, Seq: 7, Ack: 8, Window: 9, Flags: wire.FlagACK | wire.FlagPSH, PayloadLen: uint16(len(body)), Payload: body, Time: 222},
		{Tuple: tuple(1), Seq: 1001, Flags: wire.FlagFIN | wire.FlagACK, Time: 333},
	}
	unrouted := wire.Record{Tuple: tuple(2), Flags: wire.FlagACK}
	for i := range sent {
		s.Deliver(&sent[i])
		s.Deliver(&unrouted)
	}
	waitFor(t, "3 records", func() bool { return len(got.get()) >= 3 })
	time.Sleep(20 * time.Millisecond) // nothing more may come
	recs := got.get()
	if len(recs) != 3 {
		t.Fatalf("copier got %d records, want 3", len(recs))
	}
	sent[1].Payload = body[:8] // min(gateway 64, copier 8)
	for i := range sent {
		if !sameRecord(&recs[i], &sent[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, recs[i], sent[i])
		}
	}
	st := s.Stats()
	waitFor(t, "sent counted", func() bool { return st.RecordsSent.Load() == 3 })
	if st.RecordsIn.Load() != 6 || st.RecordsRouted.Load() != 3 || st.Unrouted.Load() != 3 || st.CopiersConn.Load() != 1 {
		t.Fatalf("stats %+v", st.Counters())
	}

	g.ReleaseLease(tuple(1))
	waitFor(t, "lease released", func() bool { return s.Leases() == 1 })
	s.Deliver(&sent[2])
	if st.Unrouted.Load() != 4 {
		t.Fatal("a released lease still delivers")
	}

	g.Close() // the copier leaves: its leases go
	waitFor(t, "leases orphaned", func() bool { return s.Leases() == 0 && st.CopiersConn.Load() == 0 })
	if st.RoutesOrphaned.Load() != 1 || st.RoutesDeleted.Load() != 1 {
		t.Fatalf("stats %+v", st.Counters())
	}
}

func TestServerEarlyHold(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{HoldEarly: 150 * time.Millisecond})
	got := &sink{}
	g := newClient(t, addr, copier.GatewayConfig{OnRecord: got.on})

	synack := wire.Record{Tuple: tuple(1), Seq: 77, Flags: wire.FlagSYN | wire.FlagACK}
	s.Deliver(&synack) // before the lease: held
	g.AddLease(tuple(1), 0, 0)
	waitFor(t, "held SYN-ACK", func() bool { return len(got.get()) == 1 })
	if r := got.get()[0]; r.Seq != 77 || r.Flags != synack.Flags {
		t.Fatalf("got %+v", r)
	}

	late := wire.Record{Tuple: tuple(2), Seq: 88, Flags: wire.FlagRST}
	s.Deliver(&late)
	st := s.Stats()
	waitFor(t, "hold expired", func() bool { return st.HeldExpired.Load() == 1 })
	g.AddLease(tuple(2), 0, 0)
	waitFor(t, "lease 2", func() bool { return s.Leases() == 2 })
	time.Sleep(30 * time.Millisecond)
	if n := len(got.get()); n != 1 {
		t.Fatalf("an expired hold was delivered (%d records)", n)
	}
	if st.HeldEarly.Load() != 2 || st.HeldDelivered.Load() != 1 {
		t.Fatalf("stats %+v", st.Counters())
	}
}

func TestServerTwoCopiersOwnRecords(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	a, b := &sink{}, &sink{}
	ga := newClient(t, addr, copier.GatewayConfig{Name: "a", OnRecord: a.on})
	gb := newClient(t, addr, copier.GatewayConfig{Name: "b", OnRecord: b.on})
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			ga.AddLease(tuple(i), 0, 0)
		} else {
			gb.AddLease(tuple(i), 0, 0)
		}
	}
	waitFor(t, "leases", func() bool { return s.Leases() == 100 })
	for round := 0; round < 10; round++ {
		for i := 0; i < 100; i++ {
			s.Deliver(&wire.Record{Tuple: tuple(i), Seq: uint32(round), Flags: wire.FlagACK})
		}
	}
	waitFor(t, "all records", func() bool { return len(a.get()) == 500 && len(b.get()) == 500 })
	for name, recs := range map[string][]wire.Record{"a": a.get(), "b": b.get()} {
		for _, r := range recs {
			i := int(r.Tuple.Client.Addr().As4()[3])
			if (i%2 == 0) != (name == "a") {
				t.Fatalf("copier %s got %v", name, r.Tuple)
			}
		}
	}
}

func TestServerStalledCopierNeverBlocksDeliver(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{CopierQueue: 4096, WriteTimeout: time.Second})
	release := make(chan struct{})
	var got atomic.Int64
	g := newClient(t, addr, copier.GatewayConfig{OnRecord: func(*wire.Record) {
		if got.Add(1) == 1 {
			<-release // the copier's reader stops reading
		}
	}})
	defer close(release)
	g.AddLease(tuple(1), 0, 0)
	waitFor(t, "lease", func() bool { return s.Leases() == 1 })

	st := s.Stats()
	r := wire.Record{Tuple: tuple(1), Flags: wire.FlagACK, PayloadLen: 1000}
	var worst time.Duration
	start := time.Now()
	n := 0
	// Bounded: at most 5M records or 10s. Bursts with pauses let the
	// gateway's writer fill the TCP buffers, until it gives up on the
	// copier after WriteTimeout.
	for n < 5_000_000 && time.Since(start) < 10*time.Second && st.CopiersStalled.Load() == 0 {
		for range 1000 {
			t0 := time.Now()
			s.Deliver(&r)
			worst = max(worst, time.Since(t0))
		}
		n += 1000
		time.Sleep(time.Millisecond)
	}
	if st.DroppedQueue.Load() == 0 {
		t.Fatalf("%d records to a stalled copier and no queue drops", n)
	}
	if worst > 200*time.Millisecond { // a blocked Deliver would wait out WriteTimeout (1s)
		t.Fatalf("Deliver blocked for %v", worst)
	}
	t.Logf("%d records in %v, worst Deliver %v, dropped %d (queue full) %d (copier gone), sent %d",
		n, time.Since(start), worst, st.DroppedQueue.Load(), st.DroppedGone.Load(), st.RecordsSent.Load())

	// The gateway gives up on a copier that accepts nothing for WriteTimeout.
	waitFor(t, "stalled copier dropped", func() bool { return st.CopiersStalled.Load() == 1 && s.Leases() == 0 })
	before := st.Unrouted.Load()
	s.Deliver(&r)
	if st.Unrouted.Load() != before+1 {
		t.Fatal("records still routed to the dropped copier")
	}
}

func TestServerRefusesWrongToken(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{Token: "right"})
	g := copier.NewGatewayClient(copier.GatewayConfig{Addrs: []string{addr}, Token: "wrong"})
	defer g.Close()
	waitFor(t, "refusal", func() bool { return s.Stats().AuthFailures.Load() >= 1 && g.Stats().AuthRefused.Load() >= 1 })
	if g.Connected() != 0 || s.Stats().CopiersConn.Load() != 0 || s.Stats().CopiersTotal.Load() != 0 {
		t.Fatal("a copier with a wrong token got in")
	}
}

// rawCopier dials the server and speaks the protocol by hand.
func rawCopier(t *testing.T, addr string) *wire.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	return wire.NewConn(nc)
}

func TestServerRefusesOtherVersion(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	c := rawCopier(t, addr)
	c.WriteFrame(wire.TypeHello, wire.AppendHello(nil, &wire.Hello{Version: wire.Version + 1, Role: wire.RoleCopier}))
	c.Flush()
	var pe *wire.PeerError
	for pe == nil {
		typ, body, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("no error frame: %v", err)
		}
		if typ == wire.TypeError {
			pe = wire.DecodeError(body)
		}
	}
	if pe.Code != wire.CodeVersion {
		t.Fatalf("got %+v, want a version refusal", pe)
	}
	waitFor(t, "counted", func() bool { return s.Stats().VersionRefused.Load() == 1 })
}

func TestServerMalformedFrames(t *testing.T) {
	ttl := make([]byte, 4)
	addBody := func(tu wire.Tuple) []byte { return wire.EndBatch(wire.AppendLeaseAdd(wire.BeginBatch(nil), tu, 0), 1) }
	for _, tc := range []struct {
		name string
		raw  []byte // written after the handshake
	}{
		{"unknown type", frame(99, []byte{1, 2})},
		{"records from a copier", frame(wire.TypeRecords, []byte{0, 0})},
		{"truncated lease batch", frame(wire.TypeLeaseAdd, addBody(tuple(1))[:20])},
		{"trailing bytes", frame(wire.TypeLeaseRelease, append(wire.EndBatch(wire.AppendTuple(wire.BeginBatch(nil), tuple(1)), 1), 0))},
		{"count over MaxBatch", frame(wire.TypeLeaseAdd, []byte{0xff, 0xff})},
		{"zero-length frame", []byte{0, 0, 0, 0, 1}},
		{"oversized frame", append([]byte{0x7f, 0, 0, 0, byte(wire.TypeLeaseAdd)}, ttl...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startServer(t, gateway.ServerConfig{})
			c := rawCopier(t, addr)
			if _, err := wire.Handshake(c, wire.Hello{Role: wire.RoleCopier}, []byte("tok"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			// A good lease first: it must be removed with the copier.
			c.WriteFrame(wire.TypeLeaseAdd, addBody(tuple(9)))
			c.Flush()
			waitFor(t, "lease", func() bool { return s.Leases() == 1 })
			c.NetConn().Write(tc.raw)
			var pe *wire.PeerError
			for {
				typ, body, err := c.ReadFrame()
				if err != nil {
					break // then closed
				}
				if typ == wire.TypeError {
					pe = wire.DecodeError(body)
				}
			}
			if pe == nil || pe.Code != wire.CodeProtocol {
				t.Fatalf("got %+v, want a protocol error frame before the close", pe)
			}
			st := s.Stats()
			waitFor(t, "cleanup", func() bool { return st.CopiersConn.Load() == 0 && s.Leases() == 0 })
			if st.FramesMalformed.Load() != 1 {
				t.Fatalf("frames_malformed %d", st.FramesMalformed.Load())
			}
			// The server still serves others.
			newClient(t, addr, copier.GatewayConfig{})
		})
	}
}

func frame(t wire.Type, body []byte) []byte {
	b := []byte{0, 0, 0, 0, byte(t)}
	n := len(body) + 1
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return append(b, body...)
}

func TestServerPingPong(t *testing.T) {
	_, addr := startServer(t, gateway.ServerConfig{})
	c := rawCopier(t, addr)
	if _, err := wire.Handshake(c, wire.Hello{Role: wire.RoleCopier}, []byte("tok"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.WriteFrame(wire.TypePing, nil)
	c.Flush()
	typ, _, err := c.ReadFrame()
	if err != nil || typ != wire.TypePong {
		t.Fatalf("got %s %v, want pong", typ, err)
	}
}

func TestServerCloseDisconnectsCopiers(t *testing.T) {
	s, err := gateway.NewServer(gateway.ServerConfig{Token: "tok"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	waitFor(t, "listening", func() bool { return s.Addr() != nil })
	c := rawCopier(t, ln.Addr().String())
	if _, err := wire.Handshake(c, wire.Hello{Role: wire.RoleCopier}, []byte("tok"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", func() bool { return s.Stats().CopiersConn.Load() == 1 })
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	typ, body, err := c.ReadFrame()
	if err != nil || typ != wire.TypeError || wire.DecodeError(body).Code != wire.CodeShutdown {
		t.Fatalf("copier got %s %v, want a shutdown error frame", typ, err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("still accepting after Close")
	}
}

func TestNewServerErrors(t *testing.T) {
	for _, cfg := range []gateway.ServerConfig{{}, {Token: "x", PayloadCap: 5000}, {Token: "x", PayloadCap: -1}} {
		if _, err := gateway.NewServer(cfg, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	s, err := gateway.NewServer(gateway.ServerConfig{Token: "x", Listen: "127.0.0.1:-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ListenAndServe(); err == nil {
		t.Fatal("bad listen address accepted")
	}
}

// BenchmarkDeliverToCopier measures records per second from Deliver, over
// loopback TCP, to a real GatewayClient's OnRecord.
func BenchmarkDeliverToCopier(b *testing.B) {
	s, addr := startServer(b, gateway.ServerConfig{CopierQueue: 1 << 20})
	var got atomic.Int64
	g := newClient(b, addr, copier.GatewayConfig{OnRecord: func(*wire.Record) { got.Add(1) }})
	const routes = 1000
	recs := make([]wire.Record, routes)
	for i := range recs {
		g.AddLease(tuple(i), 0, 0)
		recs[i] = wire.Record{Tuple: tuple(i), Flags: wire.FlagACK, Seq: uint32(i)}
	}
	waitFor(b, "routes", func() bool { return s.Leases() == routes })
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for i := 0; i < b.N; i++ {
		s.Deliver(&recs[i%routes])
		sent++
		if i%50000 == 0 { // stay under the queue bound
			for int(got.Load())+int(s.Stats().DroppedQueue.Load()) < sent-500000 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for int(got.Load())+int(s.Stats().DroppedQueue.Load()) < sent && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	if d := s.Stats().DroppedQueue.Load(); d > 0 {
		b.Logf("%d dropped (queue full)", d)
	}
	b.ReportMetric(float64(got.Load())/b.Elapsed().Seconds(), "records/s")
}

func TestServerCloseWithStalledAndSilentPeers(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{CopierQueue: 1024}) // WriteTimeout 10s
	silent := rawCopier(t, addr)                                       // never says hello
	_ = silent
	c := rawCopier(t, addr) // authenticates, then never reads
	if _, err := wire.Handshake(c, wire.Hello{Role: wire.RoleCopier}, []byte("tok"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.WriteFrame(wire.TypeLeaseAdd, wire.EndBatch(wire.AppendLeaseAdd(wire.BeginBatch(nil), tuple(1), 0), 1))
	c.Flush()
	waitFor(t, "lease", func() bool { return s.Leases() == 1 })
	r := wire.Record{Tuple: tuple(1), Flags: wire.FlagACK}
	st := s.Stats()
	for start := time.Now(); time.Since(start) < 5*time.Second; {
		before := st.RecordsSent.Load()
		for range 1000 {
			s.Deliver(&r)
		}
		time.Sleep(5 * time.Millisecond)
		if st.DroppedQueue.Load() > 0 && st.RecordsSent.Load() == before {
			break // the writer is stuck on a full socket
		}
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

func TestServerIgnoresUnroutableTuples(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	c := rawCopier(t, addr)
	if _, err := wire.Handshake(c, wire.Hello{Role: wire.RoleCopier}, []byte("tok"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	bad := []wire.Tuple{
		{Client: tuple(1).Client}, // no target
		{Client: netip.MustParseAddrPort("10.0.0.1:1"), Target: netip.MustParseAddrPort("[fd00::1]:2")}, // mixed families
		{Client: netip.MustParseAddrPort("10.0.0.1:0"), Target: netip.MustParseAddrPort("10.0.0.2:2")},  // port 0
		{Client: netip.MustParseAddrPort("[::ffff:10.0.0.1]:1"), Target: netip.MustParseAddrPort("[fd00::1]:2")},
	}
	b := wire.BeginBatch(nil)
	for _, tu := range append(bad, tuple(1)) {
		b = wire.AppendLeaseAdd(b, tu, 0)
	}
	c.WriteFrame(wire.TypeLeaseAdd, wire.EndBatch(b, len(bad)+1))
	c.WriteFrame(wire.TypePing, nil)
	c.Flush()
	if typ, _, err := c.ReadFrame(); err != nil || typ != wire.TypePong {
		t.Fatalf("got %s %v: the copier was dropped", typ, err)
	}
	st := s.Stats()
	if st.RoutesInvalid.Load() != uint64(len(bad)) || s.Leases() != 1 || st.FramesMalformed.Load() != 0 {
		t.Fatalf("invalid %d routes %d malformed %d", st.RoutesInvalid.Load(), s.Leases(), st.FramesMalformed.Load())
	}
}
