package copier

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
)

// fakeGateway is a minimal gateway speaking the real protocol, so the
// client can be tested without the gateway package.
type fakeGateway struct {
	t      *testing.T
	ln     net.Listener
	token  string
	conns  chan *fakeGWConn
	hsErrs chan error
}

type fakeGWConn struct {
	c        *wire.Conn
	hello    wire.Hello
	wmu      sync.Mutex
	ops      chan gwOp
	frames   atomic.Int64 // lease frames received
	maxBatch atomic.Int64 // most entries in one frame
}

type gwOp struct {
	del bool
	t   wire.Tuple
	ttl time.Duration
}

func newFakeGateway(t *testing.T, token string) *fakeGateway {
	return newFakeGatewayAt(t, token, "127.0.0.1:0")
}

func newFakeGatewayAt(t *testing.T, token, addr string) *fakeGateway {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGateway{t: t, ln: ln, token: token, conns: make(chan *fakeGWConn, 16), hsErrs: make(chan error, 64)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := wire.NewConn(nc)
			hello, err := wire.Handshake(c, wire.Hello{Role: wire.RoleGateway, PayloadCap: 1024, Name: "fake"}, []byte(token), 5*time.Second)
			if err != nil {
				g.hsErrs <- err
				nc.Close()
				continue
			}
			fc := &fakeGWConn{c: c, hello: hello, ops: make(chan gwOp, 1<<16)}
			t.Cleanup(func() { nc.Close() })
			wg.Add(1)
			go func() { defer wg.Done(); fc.read() }()
			g.conns <- fc
		}
	}()
	return g
}

func (g *fakeGateway) addr() string { return g.ln.Addr().String() }

func (g *fakeGateway) next() *fakeGWConn {
	g.t.Helper()
	select {
	case c := <-g.conns:
		return c
	case <-time.After(5 * time.Second):
		g.t.Fatal("no copier connected to the fake gateway")
		return nil
	}
}

func (fc *fakeGWConn) read() {
	defer close(fc.ops)
	for {
		typ, body, err := fc.c.ReadFrame()
		if err != nil {
			return
		}
		switch typ {
		case wire.TypeLeaseAdd:
			fc.frames.Add(1)
			if len(body) >= 2 {
				if n := int64(body[0])<<8 | int64(body[1]); n > fc.maxBatch.Load() {
					fc.maxBatch.Store(n)
				}
			}
			wire.Batch(body, func(_ int, e []byte) (int, error) {
				tu, ttl, n, err := wire.DecodeLeaseAdd(e)
				fc.ops <- gwOp{t: tu, ttl: ttl}
				return n, err
			})
		case wire.TypeLeaseRelease:
			fc.frames.Add(1)
			wire.Batch(body, func(_ int, e []byte) (int, error) {
				tu, n, err := wire.DecodeLeaseRelease(e)
				fc.ops <- gwOp{t: tu, del: true}
				return n, err
			})
		case wire.TypePing:
			fc.send(wire.TypePong, nil)
		}
	}
}

func (fc *fakeGWConn) send(t wire.Type, body []byte) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	fc.c.WriteFrame(t, body)
	fc.c.Flush()
}

// expectOps waits for exactly want (in order).
func (fc *fakeGWConn) expectOps(t *testing.T, want ...gwOp) {
	t.Helper()
	for i, w := range want {
		select {
		case got, ok := <-fc.ops:
			if !ok {
				t.Fatalf("op %d: connection closed", i)
			}
			if got != w {
				t.Fatalf("op %d: got %+v, want %+v", i, got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("op %d (%+v) never arrived", i, w)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func gwTuple(i int) wire.Tuple {
	return wire.Tuple{
		Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 88, byte(i >> 8), byte(i)}), uint16(30000+i%20000)),
		Target: netip.MustParseAddrPort("10.77.0.30:80"),
	}
}

type recordSink struct {
	mu   sync.Mutex
	recs []wire.Record
}

func (s *recordSink) on(r *wire.Record) {
	c := *r
	c.Payload = append([]byte(nil), r.Payload...) // r is only valid during the call
	s.mu.Lock()
	s.recs = append(s.recs, c)
	s.mu.Unlock()
}

func (s *recordSink) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.recs) }

func newTestClient(t *testing.T, cfg GatewayConfig) *GatewayClient {
	if cfg.Token == "" {
		cfg.Token = "tok"
	}
	cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	if cfg.RefusedBackoff == 0 {
		cfg.RefusedBackoff = 200 * time.Millisecond
	}
	g := NewGatewayClient(cfg)
	t.Cleanup(func() { g.Close() })
	return g
}

func TestGatewayClientLeasesAndRecords(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	sink := &recordSink{}
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}, PayloadCap: 32, Name: "cp-test", OnRecord: sink.on})
	fc := gw.next()
	if fc.hello.Name != "cp-test" || fc.hello.PayloadCap != 32 || fc.hello.Role != wire.RoleCopier {
		t.Fatalf("hello %+v", fc.hello)
	}
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })

	v6 := wire.Tuple{Client: netip.MustParseAddrPort("[fd00:88::5]:4000"), Target: netip.MustParseAddrPort("[fd00:77::30]:443")}
	if !g.AddLease(gwTuple(1), 90*time.Second, 0) || !g.AddLease(v6, 0, 0) {
		t.Fatal("AddLease returned false with a gateway connected")
	}
	g.ReleaseLease(gwTuple(1))
	g.ReleaseLease(gwTuple(2)) // never added: not sent
	g.AddLease(gwTuple(3), time.Second, 0)
	fc.expectOps(t, gwOp{t: gwTuple(1), ttl: 90 * time.Second}, gwOp{t: v6}, gwOp{t: gwTuple(1), del: true}, gwOp{t: gwTuple(3), ttl: time.Second})
	if g.Leases() != 2 {
		t.Fatalf("%d leases remembered, want 2", g.Leases())
	}

	recs := []wire.Record{
		{Tuple: v6, Seq: 1, Ack: 2, Window: 3, Flags: wire.FlagSYN | wire.FlagACK, Opts: wire.Options{Has: wire.OptMSS, MSS: 1440}, Time: 42},
		{Tuple: gwTuple(3), Seq: 10, Flags: wire.FlagACK | wire.FlagPSH, PayloadLen: 5, Payload: []byte("hello")},
		{Tuple: gwTuple(3), Seq: 15, Flags: wire.FlagRST},
	}
	b := wire.BeginBatch(nil)
	for i := range recs {
		b = wire.AppendRecord(b, &recs[i], 32)
	}
	fc.send(wire.TypeRecords, wire.EndBatch(b, len(recs)))
	waitFor(t, "records", func() bool { return sink.len() == 3 })
	sink.mu.Lock()
	for i, r := range sink.recs {
		if r.Tuple != recs[i].Tuple || r.Seq != recs[i].Seq || r.Flags != recs[i].Flags || r.Opts != recs[i].Opts ||
			r.Time != recs[i].Time || !bytes.Equal(r.Payload, recs[i].Payload) {
			t.Errorf("record %d: got %+v, want %+v", i, r, recs[i])
		}
	}
	sink.mu.Unlock()
	st := g.Stats()
	if st.RoutesSent.Load() != 3 || st.RouteDelsSent.Load() != 1 || st.RecordsReceived.Load() != 3 || st.Connects.Load() != 1 {
		t.Fatalf("stats %+v", st.Counters())
	}
}

func TestGatewayClientNoGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	g := newTestClient(t, GatewayConfig{Addrs: []string{addr}})
	waitFor(t, "dial failures", func() bool { return g.Stats().DialFailures.Load() >= 2 })
	if g.Connected() != 0 || g.AddLease(gwTuple(1), 0, 0) || g.Leases() != 0 {
		t.Fatal("a lease was accepted with no gateway")
	}
}

func TestGatewayClientReconnectRestoresLeases(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })
	for i := 1; i <= 3; i++ {
		g.AddLease(gwTuple(i), time.Duration(i)*time.Minute, 0)
	}
	g.ReleaseLease(gwTuple(2))
	fc.expectOps(t, gwOp{t: gwTuple(1), ttl: time.Minute}, gwOp{t: gwTuple(2), ttl: 2 * time.Minute},
		gwOp{t: gwTuple(3), ttl: 3 * time.Minute}, gwOp{t: gwTuple(2), del: true})

	fc.c.Close() // the gateway goes away
	fc2 := gw.next()
	got := map[wire.Tuple]time.Duration{}
	for range 2 {
		select {
		case op := <-fc2.ops:
			got[op.t] = op.ttl
		case <-time.After(5 * time.Second):
			t.Fatalf("re-registered only %v", got)
		}
	}
	if len(got) != 2 || got[gwTuple(1)] != time.Minute || got[gwTuple(3)] != 3*time.Minute {
		t.Fatalf("re-registered %v", got)
	}
	waitFor(t, "reconnect counted", func() bool { return g.Stats().Connects.Load() == 2 && g.Stats().Disconnects.Load() == 1 })
}

func TestGatewayClientTwoGateways(t *testing.T) {
	gw1, gw2 := newFakeGateway(t, "tok"), newFakeGateway(t, "tok")
	sink := &recordSink{}
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw1.addr(), gw2.addr()}, OnRecord: sink.on})
	fc1, fc2 := gw1.next(), gw2.next()
	waitFor(t, "both connected", func() bool { return g.Connected() == 2 })
	g.AddLease(gwTuple(7), 0, 0)
	fc1.expectOps(t, gwOp{t: gwTuple(7)})
	fc2.expectOps(t, gwOp{t: gwTuple(7)})
	for i, fc := range []*fakeGWConn{fc1, fc2} {
		r := wire.Record{Tuple: gwTuple(7), Seq: uint32(i), Flags: wire.FlagACK}
		fc.send(wire.TypeRecords, wire.EndBatch(wire.AppendRecord(wire.BeginBatch(nil), &r, 0), 1))
	}
	waitFor(t, "records from both", func() bool { return sink.len() == 2 })

	fc1.c.Close()
	gw1.ln.Close() // gateway 1 is gone for good: leases still go to gateway 2
	waitFor(t, "one connected", func() bool { return g.Connected() == 1 })
	if !g.AddLease(gwTuple(8), 0, 0) {
		t.Fatal("AddLease false with one gateway left")
	}
	fc2.expectOps(t, gwOp{t: gwTuple(8)})
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestGatewayClientWrongToken(t *testing.T) {
	gw := newFakeGateway(t, "the-gateway-token")
	var logs logBuffer
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}, Token: "another-token",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), RefusedBackoff: 300 * time.Millisecond})
	select {
	case err := <-gw.hsErrs:
		if !errors.Is(err, wire.ErrAuth) {
			t.Fatalf("gateway side: %v, want ErrAuth", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no handshake")
	}
	waitFor(t, "auth refused", func() bool { return g.Stats().AuthRefused.Load() >= 1 })
	time.Sleep(time.Second)
	if n := g.Stats().AuthRefused.Load(); n > 4 {
		t.Fatalf("%d attempts in ~1s after a refusal: not backing off", n)
	}
	if g.Connected() != 0 || g.AddLease(gwTuple(1), 0, 0) {
		t.Fatal("connected with a wrong token")
	}
	if out := logs.String(); !strings.Contains(out, "token mismatch") || !strings.Contains(out, "level=ERROR") {
		t.Fatalf("the refusal is not logged clearly:\n%s", out)
	}
}

func TestGatewayClientMalformedFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  wire.Type
		body []byte
	}{
		{"bad record batch", wire.TypeRecords, []byte{0, 1, 4, 0, 0}},
		{"unexpected type", wire.TypeLeaseAdd, []byte{0, 0}},
		{"unknown type", wire.Type(99), []byte{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newFakeGateway(t, "tok")
			var got atomic.Int64
			g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}, OnRecord: func(*wire.Record) { got.Add(1) }})
			fc := gw.next()
			waitFor(t, "connected", func() bool { return g.Connected() == 1 })
			g.AddLease(gwTuple(1), 0, 0)
			fc.expectOps(t, gwOp{t: gwTuple(1)})
			fc.send(tc.typ, tc.body)
			fc2 := gw.next() // dropped and redialed
			fc2.expectOps(t, gwOp{t: gwTuple(1)})
			if g.Stats().FramesMalformed.Load() != 1 || got.Load() != 0 {
				t.Fatalf("malformed %d, records %d", g.Stats().FramesMalformed.Load(), got.Load())
			}
		})
	}
}

func TestGatewayClientBatching(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })
	const n = 3 * wire.MaxBatch
	start := time.Now()
	for i := 0; i < n; i++ {
		if !g.AddLease(gwTuple(i), time.Minute, 0) {
			t.Fatal("AddLease false")
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("%d AddLease calls took %v", n, d)
	}
	for i := 0; i < n; i++ {
		select {
		case op := <-fc.ops:
			if op.t != gwTuple(i) {
				t.Fatalf("op %d: %v, want %v", i, op.t, gwTuple(i))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d leases arrived", i, n)
		}
	}
	// Frames are never larger than MaxBatch; a burst is coalesced (how much
	// depends on how far the writer lags: without -race about 500 per frame).
	if f := fc.frames.Load(); f < n/wire.MaxBatch || f > n/2 {
		t.Fatalf("%d leases came in %d frames", n, f)
	}
	if m := fc.maxBatch.Load(); m > wire.MaxBatch {
		t.Fatalf("a frame carried %d entries (limit %d)", m, wire.MaxBatch)
	}
	t.Logf("%d leases in %d frames", n, fc.frames.Load())
}

func TestGatewayClientFlushLatency(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })
	var worst time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		g.AddLease(gwTuple(i), 0, 0)
		fc.expectOps(t, gwOp{t: gwTuple(i)})
		worst = max(worst, time.Since(start))
	}
	if worst > 100*time.Millisecond { // ~1ms expected; generous for loaded CI
		t.Fatalf("a single lease took %v to reach the gateway", worst)
	}
	t.Logf("worst single-lease latency %v", worst)
}

func TestGatewayClientClose(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	g := NewGatewayClient(GatewayConfig{Addrs: []string{gw.addr()}, Token: "tok"})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })
	done := make(chan struct{})
	go func() { g.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if g.Connected() != 0 || g.AddLease(gwTuple(1), 0, 0) {
		t.Fatal("usable after Close")
	}
	select {
	case _, ok := <-fc.ops:
		if ok {
			t.Fatal("unexpected op")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway connection stayed open after Close")
	}
	g.Close() // idempotent
}

// bufConn is a net.Conn that keeps what is written and reads it back.
type bufConn struct {
	net.Conn
	bytes.Buffer
}

func (b *bufConn) Write(p []byte) (int, error) { return b.Buffer.Write(p) }
func (b *bufConn) Read(p []byte) (int, error)  { return b.Buffer.Read(p) }

func TestGatewayWriteOpsSplitsAndKeepsOrder(t *testing.T) {
	var ops []leaseOp
	for i := 0; i < wire.MaxBatch+10; i++ {
		ops = append(ops, leaseOp{t: gwTuple(i), ttl: time.Second})
	}
	ops = append(ops, leaseOp{t: gwTuple(1), del: true}, leaseOp{t: gwTuple(2), del: true}, leaseOp{t: gwTuple(1), ttl: 2 * time.Second})
	l := &gwLink{g: &GatewayClient{}}
	bc := &bufConn{}
	c := wire.NewConn(bc)
	if _, err := l.writeOps(c, ops, nil); err != nil {
		t.Fatal(err)
	}
	c.Flush()
	type frame struct {
		typ wire.Type
		n   int
	}
	want := []frame{{wire.TypeLeaseAdd, wire.MaxBatch}, {wire.TypeLeaseAdd, 10}, {wire.TypeLeaseRelease, 2}, {wire.TypeLeaseAdd, 1}}
	var got []frame
	var last gwOp
	for {
		typ, body, err := c.ReadFrame()
		if err != nil {
			break
		}
		n := 0
		err = wire.Batch(body, func(_ int, e []byte) (int, error) {
			n++
			if typ == wire.TypeLeaseRelease {
				tu, k, err := wire.DecodeLeaseRelease(e)
				last = gwOp{t: tu, del: true}
				return k, err
			}
			tu, ttl, k, err := wire.DecodeLeaseAdd(e)
			last = gwOp{t: tu, ttl: ttl}
			return k, err
		})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, frame{typ, n})
	}
	if len(got) != len(want) {
		t.Fatalf("frames %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frames %v, want %v", got, want)
		}
	}
	if last != (gwOp{t: gwTuple(1), ttl: 2 * time.Second}) {
		t.Fatalf("last op %+v: order lost", last)
	}
	if l.g.st.RoutesSent.Load() != wire.MaxBatch+11 || l.g.st.RouteDelsSent.Load() != 2 {
		t.Fatal("sent counters wrong")
	}
}

func TestGatewayClientVersionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peerErrs := make(chan *wire.PeerError, 16)
	go func() { // a gateway from a future release
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := wire.NewConn(nc)
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			c.ReadFrame()
			c.WriteFrame(wire.TypeHello, wire.AppendHello(nil, &wire.Hello{Version: wire.Version + 1, Role: wire.RoleGateway}))
			c.Flush()
			if typ, body, err := c.ReadFrame(); err == nil && typ == wire.TypeError {
				peerErrs <- wire.DecodeError(body)
			}
			nc.Close()
		}
	}()
	var logs logBuffer
	g := newTestClient(t, GatewayConfig{Addrs: []string{ln.Addr().String()}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	select {
	case pe := <-peerErrs:
		if pe.Code != wire.CodeVersion {
			t.Fatalf("the gateway was told %+v", pe)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not refuse the version")
	}
	// The refusal is counted, then logged: wait for both.
	waitFor(t, "counted and logged", func() bool {
		return g.Stats().VersionRefused.Load() >= 1 && strings.Contains(logs.String(), "protocol version mismatch")
	})
	if g.Connected() != 0 {
		t.Fatalf("connected %d, logs:\n%s", g.Connected(), logs.String())
	}
}

// A gateway restart: leases taken while it is gone (within the grace) are
// kept and taken on the new gateway; after the grace they are refused.
func TestGatewayClientLeasesDuringRestart(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	addr := gw.addr()
	g := newTestClient(t, GatewayConfig{Addrs: []string{addr}, ReconnectGrace: 400 * time.Millisecond})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })
	if !g.AddLease(gwTuple(1), time.Minute, 0) {
		t.Fatal("lease refused with a gateway connected")
	}
	fc.expectOps(t, gwOp{t: gwTuple(1), ttl: time.Minute})

	gw.ln.Close() // the gateway process is gone: no listener, no connection
	fc.c.Close()
	waitFor(t, "disconnected", func() bool { return g.Connected() == 0 })
	if !g.AddLease(gwTuple(2), time.Minute, 0) {
		t.Fatal("a lease taken during a gateway restart was refused")
	}
	if got := g.Stats().LeasesDeferred.Load(); got != 1 {
		t.Fatalf("leases deferred %d, want 1", got)
	}

	gw2 := newFakeGatewayAt(t, "tok", addr) // back on the same address
	fc2 := gw2.next()
	got := map[wire.Tuple]bool{}
	for range 2 {
		select {
		case op := <-fc2.ops:
			got[op.t] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("the new gateway got only %v", got)
		}
	}
	if !got[gwTuple(1)] || !got[gwTuple(2)] {
		t.Fatalf("the new gateway got %v, want both leases", got)
	}

	gw2.ln.Close()
	fc2.c.Close()
	waitFor(t, "disconnected again", func() bool { return g.Connected() == 0 })
	time.Sleep(500 * time.Millisecond) // past the grace
	if g.AddLease(gwTuple(3), time.Minute, 0) {
		t.Fatal("a lease was accepted long after the gateway was lost")
	}
}

// A release does not wake the writer by itself: it goes out with the next
// lease, in order, or with the next ping.
func TestGatewayClientReleasesWait(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}, PingInterval: time.Hour})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })
	g.AddLease(gwTuple(1), 0, 0)
	fc.expectOps(t, gwOp{t: gwTuple(1)})
	g.ReleaseLease(gwTuple(1))
	select {
	case op := <-fc.ops:
		t.Fatalf("%+v written on its own", op)
	case <-time.After(300 * time.Millisecond):
	}
	g.AddLease(gwTuple(2), 0, 0)
	fc.expectOps(t, gwOp{t: gwTuple(1), del: true}, gwOp{t: gwTuple(2)})

	gw2 := newFakeGateway(t, "tok")
	g2 := newTestClient(t, GatewayConfig{Addrs: []string{gw2.addr()}, PingInterval: 200 * time.Millisecond})
	fc2 := gw2.next()
	waitFor(t, "connected", func() bool { return g2.Connected() == 1 })
	g2.AddLease(gwTuple(3), 0, 0)
	fc2.expectOps(t, gwOp{t: gwTuple(3)})
	g2.ReleaseLease(gwTuple(3))
	fc2.expectOps(t, gwOp{t: gwTuple(3), del: true}) // with the ping
}
