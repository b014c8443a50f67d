package gateway_test

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
)

// A lease with LeasePayload gets every record's whole payload - a 1448-byte
// segment and a 9000-byte jumbo one, early-held ones too - while a plain
// lease on the same connection keeps the negotiated payload cap.
func TestServerPayloadLeases(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{PayloadCap: 64, HoldEarly: time.Second})
	got := &sink{}
	g := newClient(t, addr, copier.GatewayConfig{PayloadCap: 16, OnRecord: got.on})
	full, plain, early := tuple(1), tuple(2), tuple(3)

	synack := wire.Record{Tuple: early, Seq: 5, Flags: wire.FlagSYN | wire.FlagACK, PayloadLen: 3000, Payload: bytes.Repeat([]byte{'f'}, 3000)}
	s.Deliver(&synack) // before its lease: held with its whole payload
	g.AddLease(full, 0, copier.LeasePayload)
	g.AddLease(plain, 0, 0)
	g.AddLease(early, 0, copier.LeasePayload)
	waitFor(t, "leases", func() bool { return s.Leases() == 3 })

	pay := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	sent := []wire.Record{
		{Tuple: full, Seq: 1, Flags: wire.FlagACK, PayloadLen: 1448, Payload: pay(1448, 'a')},
		{Tuple: full, Seq: 2, Flags: wire.FlagACK, PayloadLen: 9000, Payload: pay(9000, 'b')},
		{Tuple: plain, Seq: 3, Flags: wire.FlagACK, PayloadLen: 1448, Payload: pay(1448, 'c')},
		{Tuple: plain, Seq: 4, Flags: wire.FlagACK, PayloadLen: 9000, Payload: pay(9000, 'd')},
		// The netstack cut this one (its cap): counted.
		{Tuple: full, Seq: 6, Flags: wire.FlagACK, PayloadLen: 2000, Payload: pay(1000, 'e')},
	}
	for i := range sent {
		s.Deliver(&sent[i])
	}
	waitFor(t, "records", func() bool { return len(got.get()) == 6 })
	want := map[uint32]int{1: 1448, 2: 9000, 3: 16, 4: 16, 5: 3000, 6: 1000}
	for _, r := range got.get() {
		if len(r.Payload) != want[r.Seq] {
			t.Errorf("record seq %d (%s): %d payload bytes, want %d", r.Seq, r.Tuple, len(r.Payload), want[r.Seq])
		}
	}
	st := s.Stats()
	if st.PayloadCut.Load() != 1 || st.PayloadCutBytes.Load() != 1000 || st.LeasesPayload.Load() != 2 {
		t.Fatalf("cut %d (%d bytes), payload leases %d", st.PayloadCut.Load(), st.PayloadCutBytes.Load(), st.LeasesPayload.Load())
	}
	if n := g.Stats().LeasesPayload.Load(); n != 2 {
		t.Fatalf("client counted %d payload leases", n)
	}
}

// Whole payloads fill record frames by bytes: a burst of 9000-byte records
// is split across frames under wire.MaxFrame and arrives complete.
func TestServerPayloadFramesSplit(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{RecordFlush: 50 * time.Millisecond})
	got := &sink{}
	g := newClient(t, addr, copier.GatewayConfig{OnRecord: got.on})
	g.AddLease(tuple(1), 0, copier.LeasePayload)
	waitFor(t, "lease", func() bool { return s.Leases() == 1 })
	const n = 300 // 2.7 MB of payload: at least three frames
	for i := 0; i < n; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 9000)
		s.Deliver(&wire.Record{Tuple: tuple(1), Seq: uint32(i), Flags: wire.FlagACK, PayloadLen: 9000, Payload: p})
	}
	waitFor(t, "records", func() bool { return len(got.get()) == n })
	for i, r := range got.get() {
		if r.Seq != uint32(i) || len(r.Payload) != 9000 || r.Payload[0] != byte(i) || r.Payload[8999] != byte(i) {
			t.Fatalf("record %d: seq %d, %d bytes", i, r.Seq, len(r.Payload))
		}
	}
	if f := s.Stats().FramesSent.Load(); f < 3 {
		t.Fatalf("%d frames for %d bytes", f, n*9000)
	}
}

// A copier of an older release (no CapLeaseFlags) writes lease-add entries
// without the flags byte; the gateway reads them as before.
func TestServerOldCopierLeaseEncoding(t *testing.T) {
	s, addr := startServer(t, gateway.ServerConfig{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := wire.NewConn(nc)
	hello, _, err := wire.HandshakeShare(c, wire.Hello{Role: wire.RoleCopier, Caps: wire.CapPayload | wire.CapLeaseTTL | wire.CapIPv6 | wire.CapLeaseShare, Instance: wire.NewInstance()}, []byte("tok"), 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hello.Caps&wire.CapLeaseFlags == 0 || hello.Caps&wire.CapExchange != 0 {
		t.Fatalf("gateway caps %#x: want lease flags, no exchange (no sink)", hello.Caps)
	}
	b := wire.BeginBatch(nil)
	b = wire.AppendLeaseAdd(b, tuple(1), time.Minute)
	b = wire.AppendLeaseAdd(b, tuple(2), time.Minute)
	c.WriteFrame(wire.TypeLeaseAdd, wire.EndBatch(b, 2))
	c.Flush()
	waitFor(t, "old-style leases", func() bool { return s.Leases() == 2 })
	if s.Stats().FramesMalformed.Load() != 0 {
		t.Fatal("old encoding refused")
	}
}

type exchangeSink struct {
	mu   sync.Mutex
	from [][16]byte
	xs   []wire.Exchange
}

func (e *exchangeSink) on(from [16]byte, x *wire.Exchange) {
	c := *x
	c.RequestData = bytes.Clone(x.RequestData)
	c.OnlineData = bytes.Clone(x.OnlineData)
	c.TargetData = bytes.Clone(x.TargetData)
	e.mu.Lock()
	e.from = append(e.from, from)
	e.xs = append(e.xs, c)
	e.mu.Unlock()
}

func (e *exchangeSink) get() []wire.Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]wire.Exchange(nil), e.xs...)
}

// Exchanges go over the control channel to the first connected gateway
// that compares, with every field; a gateway without a sink gets none and
// the copier counts them dropped.
func TestExchangesToComparingGateway(t *testing.T) {
	var ex exchangeSink
	_, plainAddr := startServer(t, gateway.ServerConfig{})
	s, addr := startServer(t, gateway.ServerConfig{OnExchange: ex.on})
	g := copier.NewGatewayClient(copier.GatewayConfig{Addrs: []string{plainAddr, addr}, Token: "tok",
		NoiseRoutes: []bool{false, true}, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	t.Cleanup(func() { g.Close() })
	waitFor(t, "both gateways", func() bool { return g.Connected() == 2 })

	src := copier.ExchangeSource{Route: 1, Conn: 42, Copy: 0, Noise: true,
		Client: netip.MustParseAddrPort("192.0.2.1:3333"), Target: netip.MustParseAddrPort("10.77.0.30:80")}
	x := protocol.Exchange{Request: 2, Kind: "GET", Key: "GET /a", ClientBytes: 10, TargetIn: 10, OnlineBytes: 20, TargetBytes: 21,
		RequestData: []byte("GET /a\r\n\r\n"), OnlineData: []byte("online"), TargetData: []byte("target"), Truncated: true,
		OnlineSent: 100, OnlineFirst: 110, OnlineLast: 120, TargetSent: 200, TargetFirst: 230, TargetLast: 260}
	if !g.SendExchange(src, "http", &x) {
		t.Fatal("SendExchange refused")
	}
	copy(x.OnlineData, "XXXXXX") // the caller reuses its buffers at once
	big := x
	big.Request = 3
	big.OnlineData = bytes.Repeat([]byte{'o'}, wire.MaxFrame)
	if !g.SendExchange(src, "http", &big) {
		t.Fatal("SendExchange refused a large exchange")
	}
	waitFor(t, "exchanges", func() bool { return len(ex.get()) == 2 })
	got := ex.get()[0]
	want := wire.Exchange{Flags: wire.ExchangeNoise | wire.ExchangeHasNoise | wire.ExchangeTruncated, Route: 1, Conn: 42,
		Client: src.Client, Target: src.Target, Protocol: "http", Request: 2, Kind: "GET", Key: "GET /a",
		ClientBytes: 10, TargetIn: 10, OnlineBytes: 20, TargetBytes: 21,
		OnlineSent: 100, OnlineFirst: 110, OnlineLast: 120, TargetSent: 200, TargetFirst: 230, TargetLast: 260,
		RequestData: []byte("GET /a\r\n\r\n"), OnlineData: []byte("online"), TargetData: []byte("target")}
	if got.Flags != want.Flags || got.Protocol != want.Protocol || got.Request != 2 || got.Conn != 42 || got.Client != want.Client ||
		got.TargetLast != 260 || got.OnlineFirst != 110 || string(got.OnlineData) != "online" || string(got.TargetData) != "target" ||
		string(got.RequestData) != string(want.RequestData) || got.Key != want.Key || got.TargetBytes != 21 {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if b := ex.get()[1]; b.Flags&wire.ExchangeTruncated == 0 || len(b.OnlineData) >= wire.MaxFrame {
		t.Fatalf("large exchange: %d online bytes, flags %#x", len(b.OnlineData), b.Flags)
	}
	st := g.Stats()
	if st.ExchangesSent.Load() != 2 || st.ExchangesCut.Load() != 1 || s.Stats().ExchangesIn.Load() != 2 {
		t.Fatalf("sent %d cut %d, gateway got %d", st.ExchangesSent.Load(), st.ExchangesCut.Load(), s.Stats().ExchangesIn.Load())
	}

	// No comparing gateway: dropped and counted, never blocking.
	s.Close()
	waitFor(t, "comparing gateway gone", func() bool { return g.Connected() == 1 })
	if g.SendExchange(src, "http", &x) || st.ExchangesNoGateway.Load() != 1 {
		t.Fatalf("sent without a comparing gateway (no_gateway %d)", st.ExchangesNoGateway.Load())
	}
}

// A full exchange queue drops and counts instead of blocking the worker.
func TestExchangeQueueFull(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	_, addr := startServer(t, gateway.ServerConfig{OnExchange: func([16]byte, *wire.Exchange) { once.Do(func() { <-block }) }})
	defer close(block)
	g := newClient(t, addr, copier.GatewayConfig{ExchangeQueue: 256 << 10})
	x := protocol.Exchange{OnlineData: bytes.Repeat([]byte{'o'}, 64<<10), TargetData: bytes.Repeat([]byte{'t'}, 64<<10)}
	src := copier.ExchangeSource{Conn: 1}
	start := time.Now()
	dropped := 0
	for i := 0; i < 2000; i++ { // 256 MB offered against a stalled sink
		if !g.SendExchange(src, "tcp", &x) {
			dropped++
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("SendExchange blocked: %v", time.Since(start))
	}
	if dropped == 0 || g.Stats().ExchangesQueueFull.Load() != uint64(dropped) {
		t.Fatalf("dropped %d, counted %d", dropped, g.Stats().ExchangesQueueFull.Load())
	}
}
