package copier

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/replaygw/replaygw/pkt"
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Test harness: a fake sender that parses what the engine sends, a fake
// router, a settable clock and builders of captured packets and records.

type sentPkt struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    header.TCPFlags
	win      uint16
	opts     header.TCPSynOptions
	payload  []byte
}

func (p sentPkt) has(f header.TCPFlags) bool { return p.flags&f == f }

type engSender struct {
	t    testing.TB
	mu   sync.Mutex
	pkts []sentPkt
	keep bool // record packets (off in benchmarks)
	n    int
}

func (f *engSender) Send(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if !f.keep {
		return nil
	}
	var v pkt.View
	if err := pkt.Parse(b, &v); err != nil {
		f.t.Errorf("sent a packet that does not parse: %v", err)
		return nil
	}
	if !v.ChecksumsValid(b) {
		f.t.Errorf("sent a bad checksum (IPv6 %v)", v.V6)
	}
	p := sentPkt{
		src: v.SrcAddrPort(), dst: v.DstAddrPort(),
		seq: uint32(v.Seq), ack: uint32(v.Ack), flags: v.Flags, win: v.Window,
		opts:    header.ParseSynOptions(v.Options, v.Flags&header.TCPFlagAck != 0),
		payload: append([]byte(nil), v.Payload...),
	}
	f.pkts = append(f.pkts, p)
	return nil
}

func (f *engSender) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.n }

// take returns and forgets the packets sent so far.
func (f *engSender) take() []sentPkt {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pkts
	f.pkts = nil
	return p
}

type engLeases struct {
	mu    sync.Mutex
	fail  bool
	added map[wire.Tuple]int
	dels  int
	onAdd func(wire.Tuple, LeaseFlags) // optional
}

func (r *engLeases) AddLease(t wire.Tuple, _ time.Duration, f LeaseFlags) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return false
	}
	if r.onAdd != nil {
		r.onAdd(t, f)
	}
	if r.added == nil {
		r.added = map[wire.Tuple]int{}
	}
	r.added[t]++
	return true
}

func (r *engLeases) ReleaseLease(wire.Tuple) { r.mu.Lock(); r.dels++; r.mu.Unlock() }

type engClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *engClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *engClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	online4 = netip.MustParseAddrPort("10.77.0.20:80")
	target4 = netip.MustParseAddrPort("10.77.0.30:8080")
	noise4  = netip.MustParseAddrPort("10.77.0.31:8080")
	client4 = netip.MustParseAddrPort("192.0.2.7:40000")
	online6 = netip.MustParseAddrPort("[2001:db8::20]:80")
	target6 = netip.MustParseAddrPort("[2001:db8::30]:8080")
	client6 = netip.MustParseAddrPort("[2001:db8:1::7]:40000")
)

// engRig is one engine under test in synchronous mode.
type engRig struct {
	t     *testing.T
	e     *Engine
	snd   *engSender
	rt    *engLeases
	clk   *engClock
	fates []SessionSummary
	mu    sync.Mutex
}

func newEngRig(t *testing.T, mod func(*Config)) *engRig {
	t.Helper()
	r := &engRig{t: t, snd: &engSender{t: t, keep: true}, rt: &engLeases{}, clk: &engClock{t: time.Unix(1_700_000_000, 0)}}
	cfg := Config{
		Routes:      []Route{{From: online4, To: target4}, {From: online6, To: target6}},
		Workers:     1,
		Synchronous: true,
		Now:         r.clk.Now,
		OnSessionEnd: func(s SessionSummary) {
			r.mu.Lock()
			r.fates = append(r.fates, s)
			r.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg, r.snd, r.rt)
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	t.Cleanup(e.Close)
	return r
}

// advance moves the engClock and runs the timers.
func (r *engRig) advance(d time.Duration) {
	r.clk.add(d)
	r.e.RunTimers(r.clk.Now())
}

// pkt builds a captured client packet.
type capSpec struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    header.TCPFlags
	win      uint16
	opts     []byte
	payload  []byte
}

func buildCaptured(s capSpec) []byte {
	if s.win == 0 {
		s.win = 502
	}
	seg := pkt.Segment{Src: s.src, Dst: s.dst, Seq: seqnum.Value(s.seq), Ack: seqnum.Value(s.ack),
		Flags: s.flags, Window: s.win, Options: s.opts, Payload: s.payload}
	b := make([]byte, seg.Size())
	if _, err := pkt.Build(b, &seg); err != nil {
		panic(err)
	}
	return b
}

// capConn scripts one captured client connection.
type capConn struct {
	r        *engRig
	cli, srv netip.AddrPort
	seq      uint32 // client's next seq
	ack      uint32 // online server's next seq as the client acks it
}

func (r *engRig) capConn(cli, srv netip.AddrPort, isn uint32) *capConn {
	return &capConn{r: r, cli: cli, srv: srv, seq: isn, ack: 5000}
}

func (c *capConn) send(flags header.TCPFlags, opts, payload []byte) {
	c.r.e.HandlePacket(buildCaptured(capSpec{src: c.cli, dst: c.srv, seq: c.seq, ack: c.ack, flags: flags, opts: opts, payload: payload}), c.r.clk.Now())
}

// syn captures the client's SYN (with MSS, SACK-permitted, TS, WS options
// when opts is nil) and the third-handshake ACK rtt later.
func (c *capConn) handshake(rtt time.Duration) {
	opts := clientSynOpts(true)
	c.r.e.HandlePacket(buildCaptured(capSpec{src: c.cli, dst: c.srv, seq: c.seq, flags: header.TCPFlagSyn, win: 64240, opts: opts}), c.r.clk.Now())
	c.seq++
	c.r.clk.add(rtt)
	c.send(header.TCPFlagAck, nil, nil)
}

func clientSynOpts(ts bool) []byte {
	o := make([]byte, 0, 40)
	b := make([]byte, 40)
	n := header.EncodeMSSOption(1460, b)
	o = append(o, b[:n]...)
	n = header.EncodeSACKPermittedOption(b)
	o = append(o, b[:n]...)
	if ts {
		n = header.EncodeTSOption(777, 0, b)
		o = append(o, b[:n]...)
	}
	o = append(o, header.TCPOptionNOP)
	n = header.EncodeWSOption(7, b)
	o = append(o, b[:n]...)
	for len(o)%4 != 0 {
		o = append(o, header.TCPOptionNOP)
	}
	return o
}

// data captures a client data segment and advances seq.
func (c *capConn) data(p string) {
	c.send(header.TCPFlagAck|header.TCPFlagPsh, nil, []byte(p))
	c.seq += uint32(len(p))
}

// response moves the client's ack as if the online server sent n bytes.
func (c *capConn) response(n int) { c.ack += uint32(n) }

// rec hands the engine a record from the target for tuple t.
func (r *engRig) rec(t wire.Tuple, flags uint8, seq, ack uint32, win uint16, plen int, opts wire.Options) {
	r.e.HandleRecord(&wire.Record{Tuple: t, Seq: seq, Ack: ack, Window: win, Flags: flags, PayloadLen: uint16(plen), Opts: opts})
}

func tupleOf(p sentPkt) wire.Tuple { return wire.Tuple{Client: p.src, Target: p.dst} }

// fateOf returns the recorded fates.
func (r *engRig) fateList() []Fate {
	r.mu.Lock()
	defer r.mu.Unlock()
	var f []Fate
	for _, s := range r.fates {
		f = append(f, s.Fate)
	}
	return f
}

func (r *engRig) wantFates(want ...Fate) {
	r.t.Helper()
	got := r.fateList()
	if len(got) != len(want) {
		r.t.Fatalf("fates = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			r.t.Fatalf("fates = %v, want %v", got, want)
		}
	}
}

// established runs a captured handshake and the target's SYN-ACK; it
// returns the session tuple and the target's ISN.
const targetISN = 900000

func (r *engRig) established(c *capConn, ts bool) wire.Tuple {
	r.t.Helper()
	c.handshake(2 * time.Millisecond)
	sent := r.snd.take()
	if len(sent) != 1 || !sent[0].has(header.TCPFlagSyn) {
		r.t.Fatalf("after the captured SYN sent %+v, want one SYN", sent)
	}
	t := tupleOf(sent[0])
	o := wire.Options{Has: wire.OptMSS | wire.OptWScale, MSS: 1400, WScale: 2}
	if ts {
		o.Has |= wire.OptTimestamp
		o.TSVal = 4242
	}
	r.rec(t, wire.FlagSYN|wire.FlagACK, targetISN, sent[0].seq+1, 65535, 0, o)
	sent = r.snd.take()
	if len(sent) != 1 || sent[0].flags != header.TCPFlagAck || sent[0].ack != targetISN+1 {
		r.t.Fatalf("after SYN-ACK sent %+v, want the ACK of ISN+1", sent)
	}
	return t
}
