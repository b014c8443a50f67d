package copier

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzEngine drives one synchronous engine with a sequence of captured
// client packets, target response records and clock steps decoded from the
// input (see fuzzOp), and checks after every step that the buffered bytes
// stay within the caps and that every payload byte and FIN sent to the
// target is one the client sent at that sequence number; at the end, past
// every timeout, that each session that started ended with exactly one
// fate and nothing is left buffered.
func FuzzEngine(f *testing.F) {
	for _, s := range fuzzEngineSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 { // keeps each connection in its quarter of the sequence space
			return
		}
		fz := newFuzzRig(t)
		for op := range fuzzOps(in) {
			fz.step(op)
			fz.check()
		}
		fz.finish()
	})
}

// Fuzzed configuration: small caps so that the buffer limits are reached,
// short timeouts so that the end of every session is near.
const (
	fzConns       = 4
	fzMemoryLimit = 6000
	fzSessionBuf  = 2500
	fzIdle        = 2 * time.Second
	fzClientPort  = 40000
	fzTargetISN   = 700000
)

var fzPool = netip.MustParsePrefix("198.51.100.0/24")

// The opcodes of the fuzz input: one byte (opcode in the low nibble, the
// connection in bits 4-5), then the operands the opcode reads.
const (
	opSYN     = iota // captured SYN; operand: options variant
	opHSAck          // captured handshake ACK
	opData           // captured data at the next seq; operand: length/8
	opDataAt         // captured data anywhere; operands: offset (2), length
	opFIN            // captured FIN after the next seq; operand: data length
	opRST            // captured RST at the next seq
	opRespond        // the online server answered; operand: bytes/4
	opPureAck        // captured pure ACK
	opRecord         // a target record; operands: session, kind, value (2)
	opAdvance        // clock step; operand: 10 ms units (high bit: 100 ms)
	opNewConn        // the client reuses the port: a new ISN and SYN
	numOps
)

type fuzzOp struct {
	code, conn int
	a, b       byte
	v          uint16
}

// fuzzOps decodes in into operations; every operand is read, missing
// bytes are zero.
func fuzzOps(in []byte) func(func(fuzzOp) bool) {
	return func(yield func(fuzzOp) bool) {
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		for len(in) > 0 {
			h := next()
			op := fuzzOp{code: int(h&0x0f) % numOps, conn: int(h>>4) % fzConns}
			switch op.code {
			case opSYN, opData, opFIN, opRespond, opAdvance:
				op.a = next()
			case opDataAt:
				op.v = uint16(next())<<8 | uint16(next())
				op.a = next()
			case opRecord:
				op.a, op.b = next(), next()
				op.v = uint16(next())<<8 | uint16(next())
			}
			if !yield(op) {
				return
			}
		}
	}
}

// fuzzConn is one scripted client connection (its own client port). Its
// sequence numbers stay in its own quarter of the space: from conn << 30,
// a 4096-byte input moves them by at most 4096 reuses of about 100,000 and
// 4096 data steps of at most 2,041 (under 2^30), so a sent segment's seq
// tells its connection.
type fuzzConn struct {
	isn  uint32 // current connection's ISN
	nxt  uint32 // the client's next seq
	ack  uint32 // online server seq the client acks
	gen  uint32
	data seqRanges       // every seq the client sent a payload byte at
	fins map[uint32]bool // every seq a client FIN took
}

// seqRanges is a set of sequence numbers: sorted, disjoint, non-adjacent
// half-open intervals on a line that a range wrapping 2^32 is split on.
type seqRanges struct{ iv [][2]uint64 }

func (r *seqRanges) add(seq, n uint32) {
	if n == 0 {
		return
	}
	lo, hi := uint64(seq), uint64(seq)+uint64(n)
	if hi > 1<<32 {
		r.add(0, uint32(hi-1<<32))
		hi = 1 << 32
	}
	out := r.iv[:0:0]
	for _, v := range r.iv {
		switch {
		case v[1] < lo || v[0] > hi:
			out = append(out, v)
		default: // overlapping or adjacent: merge
			lo, hi = min(lo, v[0]), max(hi, v[1])
		}
	}
	out = append(out, [2]uint64{lo, hi})
	slices.SortFunc(out, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	r.iv = out
}

func (r *seqRanges) covers(seq, n uint32) bool {
	lo, hi := uint64(seq), uint64(seq)+uint64(n)
	if hi > 1<<32 {
		return r.covers(0, uint32(hi-1<<32)) && r.covers(seq, uint32(1<<32-lo))
	}
	for _, v := range r.iv {
		if v[0] <= lo && hi <= v[1] {
			return true
		}
	}
	return n == 0
}

// fuzzTuple is what the rig knows of one session from the packets sent.
type fuzzTuple struct {
	t       wire.Tuple
	conn    int    // the client connection (fz.conns)
	synSeq  uint32 // the SYN's seq
	sentEnd uint32 // highest seq sent + 1
	rcv     uint32 // the target's next seq (our script)
	estab   bool
	tgtFin  bool // the target closed this connection: the engine may close it too, then reopen
}

type fuzzRig struct {
	*engRig
	conns  [fzConns]fuzzConn
	tuples []*fuzzTuple
	byTup  map[wire.Tuple]*fuzzTuple
}

func newFuzzRig(t *testing.T) *fuzzRig {
	r := newEngRig(t, func(c *Config) {
		c.Routes = []Route{{From: online4, To: target4}}
		c.ClientPool = fzPool
		c.Copies = 2
		c.Workers = 2
		c.MemoryLimit = fzMemoryLimit
		c.SessionBuffer = fzSessionBuf
		c.IdleTimeout = fzIdle
		c.GapTimeout = 500 * time.Millisecond
		c.SynTimeout = time.Second
		c.Logger = slog.New(slog.DiscardHandler)
	})
	fz := &fuzzRig{engRig: r, byTup: map[wire.Tuple]*fuzzTuple{}}
	for i := range fz.conns {
		c := &fz.conns[i]
		c.isn = uint32(i)<<30 + 1000
		c.nxt, c.ack = c.isn+1, 5000
		c.fins = map[uint32]bool{}
	}
	return fz
}

func (fz *fuzzRig) client(i int) netip.AddrPort {
	return netip.AddrPortFrom(client4.Addr(), uint16(fzClientPort+i))
}

// payloadByte is the content of the client's byte at seq: a function of the
// sequence number, so every capture of a byte carries the same value and a
// sent byte can be checked against it.
func payloadByte(seq uint32) byte { return byte(seq*2654435761>>24) ^ byte(seq) }

func (fz *fuzzRig) capture(i int, seq uint32, flags header.TCPFlags, n int, opts []byte) {
	c := &fz.conns[i]
	p := make([]byte, n)
	for k := range p {
		p[k] = payloadByte(seq + uint32(k))
	}
	c.data.add(seq, uint32(n))
	if flags&header.TCPFlagFin != 0 {
		c.fins[seq+uint32(n)] = true
	}
	win := uint16(0)
	if flags&header.TCPFlagSyn != 0 {
		win = 64240
	}
	fz.e.HandlePacket(buildCaptured(capSpec{src: fz.client(i), dst: online4, seq: seq, ack: c.ack, flags: flags, win: win, opts: opts, payload: p}), fz.clk.Now())
}

func (fz *fuzzRig) step(op fuzzOp) {
	c := &fz.conns[op.conn]
	ack := header.TCPFlagAck
	switch op.code {
	case opSYN:
		fz.capture(op.conn, c.isn, header.TCPFlagSyn, 0, clientSynOpts(op.a&1 == 0))
	case opHSAck, opPureAck:
		fz.capture(op.conn, c.nxt, ack, 0, nil)
	case opData:
		n := int(op.a)*8 + 1
		fz.capture(op.conn, c.nxt, ack|header.TCPFlagPsh, n, nil)
		c.nxt += uint32(n)
	case opDataAt:
		fz.capture(op.conn, c.isn+1+uint32(op.v), ack, int(op.a)+1, nil)
	case opFIN:
		n := int(op.a % 4)
		fz.capture(op.conn, c.nxt, ack|header.TCPFlagFin, n, nil)
		c.nxt += uint32(n) + 1
	case opRST:
		fz.capture(op.conn, c.nxt, header.TCPFlagRst, 0, nil)
	case opRespond:
		c.ack += uint32(op.a)*4 + 1
	case opRecord:
		fz.record(op)
	case opAdvance:
		d := time.Duration(op.a&0x7f) * 10 * time.Millisecond
		if op.a&0x80 != 0 {
			d *= 10
		}
		fz.advance(d)
	case opNewConn:
		c.gen++
		c.isn += 100_000 + c.gen
		c.nxt, c.ack = c.isn+1, 5000
		fz.capture(op.conn, c.isn, header.TCPFlagSyn, 0, clientSynOpts(true))
	}
	fz.observe()
}

// record hands the engine one target record for a session seen on the wire.
func (fz *fuzzRig) record(op fuzzOp) {
	if len(fz.tuples) == 0 {
		return
	}
	tu := fz.tuples[int(op.a)%len(fz.tuples)]
	win := uint16(op.v) | 0x100
	ack := tu.sentEnd - uint32(op.v%4)
	var opts wire.Options
	switch op.b % 8 {
	case 0: // SYN-ACK
		opts = wire.Options{Has: wire.OptMSS | wire.OptWScale, MSS: 100 + op.v%1400, WScale: byte(op.v % 16)}
		if op.v&0x4000 != 0 {
			opts.Has |= wire.OptTimestamp
			opts.TSVal = uint32(op.v)
		}
		fz.rec(tu.t, wire.FlagSYN|wire.FlagACK, fzTargetISN, tu.synSeq+1, win, 0, opts)
		tu.rcv, tu.estab = fzTargetISN+1, true
	case 1: // ACK of what was sent (or a little less)
		fz.rec(tu.t, wire.FlagACK, tu.rcv, ack, win, 0, opts)
	case 2: // response data
		n := int(op.v % 3000)
		fz.rec(tu.t, wire.FlagACK|wire.FlagPSH, tu.rcv, ack, win, n, opts)
		tu.rcv += uint32(n)
	case 3: // FIN
		fz.rec(tu.t, wire.FlagACK|wire.FlagFIN, tu.rcv, ack, win, 0, opts)
		tu.rcv++
		tu.tgtFin = true
	case 4: // RST
		fz.rec(tu.t, wire.FlagRST|wire.FlagACK, tu.rcv, ack, 0, 0, opts)
	case 5: // zero window
		fz.rec(tu.t, wire.FlagACK, tu.rcv, ack, 0, 0, opts)
	case 6: // old data or a keepalive probe
		fz.rec(tu.t, wire.FlagACK, tu.rcv-1-uint32(op.v%3), ack, win, int(op.v%2), opts)
	case 7: // an ack from anywhere
		fz.rec(tu.t, wire.FlagACK, tu.rcv, tu.synSeq+uint32(op.v)*64, win, 0, opts)
	}
}

// observe checks the packets sent since the last step against what the
// client sent and learns the sessions' tuples and sequence numbers.
func (fz *fuzzRig) observe() {
	for _, p := range fz.snd.take() {
		if p.dst != target4 || !fzPool.Contains(p.src.Addr()) {
			fz.t.Fatalf("sent %v -> %v: not from the pool to the target", p.src, p.dst)
		}
		tup := tupleOf(p)
		tu := fz.byTup[tup]
		if p.has(header.TCPFlagSyn) {
			if len(p.payload) != 0 {
				fz.t.Fatalf("SYN with %d payload bytes", len(p.payload))
			}
			if tu == nil || tu.synSeq != p.seq {
				// The allocator may move a copy to another port or pool
				// address: the SYN's seq (a client's ISN, or its first
				// byte - 1) tells the connection.
				tu = &fuzzTuple{t: tup, conn: int(p.seq >> 30), synSeq: p.seq, sentEnd: p.seq + 1}
				fz.byTup[tup] = tu
				fz.tuples = append(fz.tuples, tu)
			}
			continue
		}
		if tu == nil {
			fz.t.Fatalf("sent %v on %v before any SYN", p.flags, tup)
		}
		i := tu.conn
		c := &fz.conns[i]
		if !c.data.covers(p.seq, uint32(len(p.payload))) {
			fz.t.Fatalf("sent bytes [%d, %d) on %v, client %d did not send them all", p.seq, p.seq+uint32(len(p.payload)), tup, i)
		}
		for k, b := range p.payload {
			if q := p.seq + uint32(k); b != payloadByte(q) {
				fz.t.Fatalf("sent byte %#x at seq %d on %v, the client's is %#x", b, q, tup, payloadByte(q))
			}
		}
		end := p.seq + uint32(len(p.payload))
		if p.has(header.TCPFlagFin) {
			// Our own FIN is allowed only to close a connection the target
			// closed while the client goes on (the session then reopens).
			if !c.fins[end] && !tu.tgtFin {
				fz.t.Fatalf("sent a FIN at seq %d on %v where client %d sent none", end, tup, i)
			}
			end++
		}
		if int32(end-tu.sentEnd) > 0 {
			tu.sentEnd = end
		}
	}
}

// check asserts the buffer caps and that the engine's count of buffered
// bytes is the sum of its sessions'.
func (fz *fuzzRig) check() {
	got := fz.e.BufferedBytes()
	if got < 0 || got > fzMemoryLimit {
		fz.t.Fatalf("buffered %d bytes, cap %d", got, fzMemoryLimit)
	}
	var sum int64
	for _, w := range fz.e.workers {
		for _, s := range w.sessions {
			b := s.cap.buffered
			if b < 0 || b > fzSessionBuf {
				fz.t.Fatalf("session %v buffers %d bytes, cap %d", s.tuple, b, fzSessionBuf)
			}
			var held int64
			for _, g := range s.cap.live() {
				held += int64(g.n)
			}
			if held != b {
				fz.t.Fatalf("session %v holds %d bytes in segments, counts %d", s.tuple, held, b)
			}
			sum += b
		}
	}
	if sum != got {
		fz.t.Fatalf("sessions buffer %d bytes, the engine counts %d", sum, got)
	}
}

// finish runs the clock past every timeout and checks that each session
// that started ended once.
func (fz *fuzzRig) finish() {
	for range 4 {
		fz.advance(fzIdle)
		fz.observe()
	}
	st := fz.e.Stats()
	started, ended := st.SessionsStarted.Load(), st.SessionsEnded.Load()
	if started != ended {
		fz.t.Fatalf("%d sessions started, %d ended after the idle timeout", started, ended)
	}
	for _, w := range fz.e.workers {
		if len(w.sessions) != 0 {
			fz.t.Fatalf("worker %d still has %d sessions", w.id, len(w.sessions))
		}
	}
	if b := fz.e.BufferedBytes(); b != 0 {
		fz.t.Fatalf("%d bytes buffered with no session left", b)
	}
	type key struct {
		t     wire.Tuple
		start time.Time
	}
	seen := map[key]Fate{}
	var n uint64
	fz.mu.Lock()
	defer fz.mu.Unlock()
	for _, s := range fz.fates {
		if s.Tuple == (wire.Tuple{}) {
			continue // never started (no port, sampled out, ...)
		}
		k := key{s.Tuple, s.Start}
		if f, ok := seen[k]; ok {
			fz.t.Fatalf("session %v started %v has two fates: %v and %v", s.Tuple, s.Start, f, s.Fate)
		}
		seen[k] = s.Fate
		n++
	}
	if n != started {
		fz.t.Fatalf("%d fates of started sessions, %d started", n, started)
	}
}

// fuzzEngineSeeds are meaningful sequences: handshakes with requests and
// responses, a mid-stream join, captured and target RSTs, reordering,
// buffer overflow, port reuse.
func fuzzEngineSeeds() [][]byte {
	op := func(code, conn int, operands ...byte) []byte {
		return append([]byte{byte(conn<<4 | code)}, operands...)
	}
	rec := func(conn, session, kind int, v uint16) []byte {
		b := op(opRecord, conn, byte(session), byte(kind))
		return binary.BigEndian.AppendUint16(b, v)
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	handshake := cat(op(opSYN, 0, 0), op(opAdvance, 0, 1), op(opHSAck, 0), rec(0, 0, 0, 0x4000|1400), rec(0, 1, 0, 1400))
	exchange := cat(op(opData, 0, 10), rec(0, 0, 1, 0x2000), rec(0, 0, 2, 500), op(opRespond, 0, 125),
		op(opData, 0, 3), rec(0, 0, 1, 0x2000), rec(0, 0, 2, 200), op(opAdvance, 0, 5))
	closing := cat(op(opFIN, 0, 0), rec(0, 0, 1, 0x2000), rec(0, 0, 3, 0x2000), rec(0, 1, 1, 0x2000), rec(0, 1, 3, 0))
	return [][]byte{
		cat(handshake, exchange, closing),
		// mid-stream join: data first, synthesized SYN
		cat(op(opRespond, 1, 9), op(opData, 1, 20), rec(1, 0, 0, 1400), rec(1, 0, 1, 0x2000), op(opData, 1, 2), op(opFIN, 1, 1), rec(1, 0, 1, 0x2000), rec(1, 0, 3, 0)),
		// captured RST after a request; target RST on the other copy
		cat(handshake, op(opData, 0, 4), rec(0, 0, 1, 0x2000), op(opRST, 0), rec(0, 1, 4, 0)),
		// reordered and duplicated capture with a gap that times out
		cat(handshake, op(opDataAt, 0, 0, 100, 50), op(opDataAt, 0, 0, 0, 99), op(opDataAt, 0, 0, 0, 99), op(opDataAt, 0, 1, 0, 10), op(opAdvance, 0, 0x85)),
		// buffer limit: large requests against a zero window
		cat(handshake, rec(0, 0, 5, 0), op(opData, 0, 255), op(opData, 0, 255), op(opData, 0, 255), op(opData, 0, 255)),
		// the client reuses its port for a new connection
		cat(handshake, op(opData, 0, 1), op(opNewConn, 0), op(opData, 0, 1), rec(0, 2, 0, 1400), op(opAdvance, 0, 0xff)),
		// several connections interleaved
		cat(op(opSYN, 0, 0), op(opSYN, 1, 1), op(opSYN, 2, 0), rec(0, 0, 0, 1400), rec(0, 2, 0, 536), rec(0, 4, 0, 0x4000|1000),
			op(opData, 0, 30), op(opData, 1, 30), op(opData, 2, 250), rec(0, 0, 1, 0x100), rec(0, 2, 2, 2000), op(opAdvance, 0, 20)),
	}
}

func TestFuzzEngineSeedsStartSessions(t *testing.T) {
	// Each seed must reach the engine's sessions (not stop at parsing or
	// routing) and pass the fuzz checks.
	for i, in := range fuzzEngineSeeds() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			fz := newFuzzRig(t)
			for op := range fuzzOps(in) {
				fz.step(op)
				fz.check()
			}
			if len(fz.tuples) == 0 {
				t.Fatalf("seed %d started no session", i)
			}
			fz.finish()
		})
	}
}
