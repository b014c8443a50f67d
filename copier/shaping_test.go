package copier

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func TestMultiplication(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool string
	}{{"keep client address", ""}, {"pool", "10.88.0.0/24"}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngRig(t, func(c *Config) {
				c.Copies = 3
				if tc.pool != "" {
					c.ClientPool = netip.MustParsePrefix(tc.pool)
				}
			})
			c := r.capConn(client4, online4, 1000)
			c.handshake(time.Millisecond)
			syns := r.snd.take()
			if len(syns) != 3 {
				t.Fatalf("sent %d SYNs, want 3", len(syns))
			}
			seen := map[wire.Tuple]bool{}
			for i, p := range syns {
				tu := tupleOf(p)
				if seen[tu] || p.dst != target4 || p.seq != 1000 {
					t.Fatalf("copy %d: %+v (duplicate tuple or wrong target)", i, p)
				}
				seen[tu] = true
				if tc.pool == "" && p.src.Addr() != client4.Addr() {
					t.Fatalf("copy %d left the client address: %v", i, p.src)
				}
				if tc.pool != "" && !netip.MustParsePrefix(tc.pool).Contains(p.src.Addr()) {
					t.Fatalf("copy %d not in the pool: %v", i, p.src)
				}
				if r.rt.added[tu] != 1 {
					t.Fatalf("copy %d route not added", i)
				}
			}
			if tc.pool == "" && syns[0].src != client4 {
				t.Fatalf("copy 0 = %v, want the client tuple kept", syns[0].src)
			}
			// Each copy gets its own handshake; data goes to all three.
			for i, p := range syns {
				r.rec(tupleOf(p), wire.FlagSYN|wire.FlagACK, uint32(10000*(i+1)), 1001, 65535, 0, wire.Options{})
			}
			r.snd.take()
			c.data("hi")
			sent := r.snd.take()
			if len(sent) != 3 {
				t.Fatalf("data sent %d times, want 3", len(sent))
			}
			for _, p := range sent {
				for i, s := range syns {
					if tupleOf(s) == tupleOf(p) && p.ack != uint32(10000*(i+1))+1 {
						t.Fatalf("copy %d acks %d: records reached the wrong session", i, p.ack)
					}
				}
			}
		})
	}
}

func TestPoolRewrite(t *testing.T) {
	pool := netip.MustParsePrefix("10.88.0.0/24")
	r := newEngRig(t, func(c *Config) { c.ClientPool = pool })
	other := netip.MustParseAddrPort("198.51.100.9:40000")
	var srcs []netip.AddrPort
	for _, cl := range []netip.AddrPort{client4, other} {
		c := r.capConn(cl, online4, 1000)
		c.handshake(time.Millisecond)
		p := r.snd.take()
		if len(p) != 1 {
			t.Fatalf("sent %d", len(p))
		}
		srcs = append(srcs, p[0].src)
	}
	for _, s := range srcs {
		a := s.Addr().As4()
		if !pool.Contains(s.Addr()) || a[3] == 0 || a[3] == 255 || s.Port() != 40000 {
			t.Fatalf("rewritten source %v: want a usable pool address, port kept", s)
		}
	}
	if srcs[0] == srcs[1] {
		t.Fatalf("two live sessions share %v", srcs[0])
	}
}

func TestSampling(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.SamplePercent = 50 })
	r.snd.keep = false
	const n = 10000
	for i := range n {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(30000+i%7))
		c := r.capConn(cl, online4, uint32(i))
		c.send(header.TCPFlagSyn, nil, nil)
	}
	out := r.e.Stats().Fate(FateSampledOut)
	started := r.e.Stats().SessionsStarted.Load()
	if out+started != n || math.Abs(float64(out)-n/2) > 300 {
		t.Fatalf("sampled out %d, started %d of %d; want about half", out, started, n)
	}
	// Consistent: the same tuple gets the same answer.
	for i := range 100 {
		o := wire.Tuple{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(i)}), 1), Target: online4}
		if sampled(o, 50) != sampled(o, 50) {
			t.Fatal("sampling not deterministic")
		}
	}
}

func TestSampleBucketUniform(t *testing.T) {
	var buckets [10]int
	const n = 100000
	for i := range n {
		o := wire.Tuple{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), uint16(i)), Target: online4}
		buckets[int(sampleBucket(o))/10]++
	}
	for i, b := range buckets {
		if math.Abs(float64(b)-n/10) > n/100 {
			t.Fatalf("decile %d holds %d of %d", i, b, n)
		}
	}
}

func TestRateLimit(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.RateLimit = 2 })
	for i := range 3 {
		c := r.capConn(netip.AddrPortFrom(client4.Addr(), uint16(20000+i)), online4, 1)
		c.send(header.TCPFlagSyn, nil, nil)
	}
	if s := r.snd.take(); len(s) != 2 {
		t.Fatalf("sent %d SYNs, want 2", len(s))
	}
	r.wantFates(FateRateLimited)
	r.clk.add(time.Second)
	c := r.capConn(netip.AddrPortFrom(client4.Addr(), 20009), online4, 1)
	c.send(header.TCPFlagSyn, nil, nil)
	if s := r.snd.take(); len(s) != 1 {
		t.Fatalf("sent %d SYNs after refill, want 1", len(s))
	}
}

func TestNoGateway(t *testing.T) {
	r := newEngRig(t, nil)
	r.rt.fail = true
	c := r.capConn(client4, online4, 1)
	c.handshake(time.Millisecond)
	c.data("x")
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v without a gateway", s)
	}
	r.wantFates(FateNoGateway)
	// The tuple was never used: it is free again at once.
	r.rt.fail = false
	c2 := r.capConn(client4, online4, 99999)
	c2.handshake(time.Millisecond)
	if s := r.snd.take(); len(s) != 1 || s[0].src != client4 {
		t.Fatalf("sent %+v, want a SYN from the client tuple", s)
	}
}

func TestUnmatchedAndMalformed(t *testing.T) {
	r := newEngRig(t, nil)
	r.e.HandlePacket(buildCaptured(capSpec{src: client4, dst: netip.MustParseAddrPort("10.77.0.20:443"), seq: 1, flags: header.TCPFlagSyn}), r.clk.Now())
	r.e.HandlePacket([]byte{0x45, 0, 0}, r.clk.Now())
	r.e.HandlePacket(buildCaptured(capSpec{src: client4, dst: online4, seq: 1, flags: header.TCPFlagAck}), r.clk.Now()) // stray ACK
	st := r.e.Stats()
	if st.PacketsUnmatched.Load() != 1 || st.PacketsMalformed.Load() != 1 || st.PacketsNoSession.Load() != 1 || len(r.snd.take()) != 0 {
		t.Fatalf("unmatched %d malformed %d nosession %d", st.PacketsUnmatched.Load(), st.PacketsMalformed.Load(), st.PacketsNoSession.Load())
	}
}

func TestAsyncWorkers(t *testing.T) {
	snd := &engSender{t: t, keep: true}
	rt := &engLeases{}
	e, err := NewEngine(Config{Routes: []Route{{From: online4, To: target4}}, Workers: 2, Copies: 2}, snd, rt)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const conns = 20
	for i := range conns {
		cl := netip.AddrPortFrom(client4.Addr(), uint16(30000+i))
		e.HandlePacket(buildCaptured(capSpec{src: cl, dst: online4, seq: 100, flags: header.TCPFlagSyn}), time.Now())
	}
	deadline := time.Now().Add(5 * time.Second)
	for snd.count() < 2*conns && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	for _, p := range snd.take() {
		e.HandleRecord(&wire.Record{Tuple: tupleOf(p), Flags: wire.FlagSYN | wire.FlagACK, Seq: 5, Ack: 101, Window: 1000})
	}
	for snd.count() < 4*conns && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	acks := snd.take()
	if len(acks) != 2*conns {
		t.Fatalf("got %d ACKs, want %d", len(acks), 2*conns)
	}
	for _, p := range acks {
		if p.flags != header.TCPFlagAck || p.ack != 6 {
			t.Fatalf("ACK %+v", p)
		}
	}
	e.Close()
	if got := e.Stats().Fate(FateClosed); got != 2*conns {
		t.Fatalf("closed fates %d, want %d", got, 2*conns)
	}
}
