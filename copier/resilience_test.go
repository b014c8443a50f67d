package copier

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Sessions that outlive the target's resets and closes (reopen.go), and
// the session table's bound (shed.go).

// summaryOf returns the one recorded summary.
func (r *engRig) summaryOf() SessionSummary {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fates) != 1 {
		r.t.Fatalf("summaries %+v, want one", r.fates)
	}
	return r.fates[0]
}

// wantSYN checks that sent is one synthesized SYN (MSS only) with seq
// and returns its tuple.
func wantSYN(t *testing.T, sent []sentPkt, seq uint32) wire.Tuple {
	t.Helper()
	if len(sent) != 1 || sent[0].flags != header.TCPFlagSyn || sent[0].seq != seq {
		t.Fatalf("sent %+v, want one SYN seq %d", sent, seq)
	}
	if o := sent[0].opts; o.MSS != DefaultMSS || o.WS != -1 || o.TS {
		t.Fatalf("SYN options %+v, want a synthesized SYN (MSS only)", o)
	}
	return tupleOf(sent[0])
}

// synAck answers the SYN of tu (ISN seq) and returns what was sent.
func (r *engRig) synAck(tu wire.Tuple, seq uint32) []sentPkt {
	r.rec(tu, wire.FlagSYN|wire.FlagACK, targetISN, seq+1, 65535, 0, wire.Options{Has: wire.OptMSS, MSS: 1400})
	return r.snd.take()
}

func TestReopenAfterTargetReset(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, true)
	c.data("GET /1") // 1001..1006
	r.rec(tu, wire.FlagACK, targetISN+1, 1007, 1000, 20, wire.Options{})
	c.response(20)
	c.data("GET /2") // 1007..1012: sent, then the target restarts
	r.snd.take()
	r.rec(tu, wire.FlagRST, targetISN+21, 0, 0, 0, wire.Options{})
	if len(r.fateList()) != 0 {
		t.Fatalf("fates %v: the session must outlive the target's reset", r.fateList())
	}
	c.response(20)
	c.data("GET /3") // 1013..1018: the next request reopens
	nt := wantSYN(t, r.snd.take(), 1012)
	if nt == tu {
		t.Fatalf("reopened on the reset tuple %v, want a new one", tu)
	}
	if r.rt.added[nt] != 1 {
		t.Fatalf("routes %v: the new tuple's route not registered", r.rt.added)
	}
	sent := r.synAck(nt, 1012)
	if len(sent) != 1 || string(sent[0].payload) != "GET /3" || sent[0].seq != 1013 || sent[0].ack != targetISN+1 || sent[0].src != nt.Client {
		t.Fatalf("after the new SYN-ACK sent %+v, want GET /3 on the new tuple", sent)
	}
	c.response(20)
	c.data("GET /4") // held until the target's response to GET /3
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v, want GET /4 held for the response", s)
	}
	r.rec(nt, wire.FlagACK, targetISN+1, 1019, 1000, 20, wire.Options{})
	sent = r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "GET /4" {
		t.Fatalf("after the response sent %+v, want GET /4", sent)
	}
	r.rec(nt, wire.FlagACK, targetISN+21, 1025, 1000, 20, wire.Options{})
	c.response(20)
	c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
	sent = r.snd.take()
	if len(sent) != 1 || !sent[0].has(header.TCPFlagFin) || sent[0].seq != 1025 {
		t.Fatalf("sent %+v, want FIN seq 1025", sent)
	}
	r.rec(nt, wire.FlagACK|wire.FlagFIN, targetISN+41, 1026, 1000, 0, wire.Options{})
	sum := r.summaryOf()
	if sum.Fate != FateReplayed || sum.Reestablished != 1 || sum.Requests != 4 || sum.Tuple != nt {
		t.Fatalf("summary %+v, want replayed, reestablished 1, 4 requests, on the new tuple", sum)
	}
	if n := r.e.Stats().SessionsReestablished.Load(); n != 1 {
		t.Fatalf("reestablished counter %d, want 1", n)
	}
	if r.e.BufferedBytes() != 0 || r.e.Sessions() != 0 {
		t.Fatalf("buffered %d, sessions %d after the end", r.e.BufferedBytes(), r.e.Sessions())
	}
}

func TestReopenAfterTargetClose(t *testing.T) {
	// The target closes a keep-alive connection (its restart, or a shorter
	// keep-alive timeout) and the client sends its next request.
	r, c, tu := askedOnce(t)
	r.rec(tu, wire.FlagACK|wire.FlagFIN, targetISN+1, 1002, 1000, 10, wire.Options{})
	c.response(10)
	c.data("next") // 1002..1005
	sent := r.snd.take()
	if len(sent) != 2 {
		t.Fatalf("sent %+v, want our FIN on the old connection and a new SYN", sent)
	}
	if fin := sent[0]; !fin.has(header.TCPFlagFin|header.TCPFlagAck) || tupleOf(fin) != tu || fin.ack != targetISN+12 {
		t.Fatalf("first %+v, want FIN acking the target's data+FIN on %v", fin, tu)
	}
	nt := wantSYN(t, sent[1:], 1001)
	if nt == tu {
		t.Fatal("reopened on the closed tuple (TIME_WAIT on the target)")
	}
	sent = r.synAck(nt, 1001)
	if len(sent) != 1 || string(sent[0].payload) != "next" {
		t.Fatalf("sent %+v, want the request on the new connection", sent)
	}
	r.rec(nt, wire.FlagACK, targetISN+1, 1006, 1000, 0, wire.Options{})
	c.send(header.TCPFlagRst|header.TCPFlagAck, nil, nil)
	if s := r.summaryOf(); s.Fate != FateReplayed || s.Reestablished != 1 || s.Requests != 2 {
		t.Fatalf("summary %+v, want replayed, reestablished 1, 2 requests", s)
	}
}

func TestReopenAfterTargetCloseRefused(t *testing.T) {
	// The target closed (its server stopped) and refuses the new
	// connection: the session waits for the next request, no retry loop.
	r, c, tu := askedOnce(t)
	r.rec(tu, wire.FlagACK|wire.FlagFIN, targetISN+1, 1002, 1000, 10, wire.Options{})
	c.response(10)
	c.data("next")
	sent := r.snd.take()
	nt := wantSYN(t, sent[1:], 1001)
	r.rec(nt, wire.FlagRST|wire.FlagACK, 0, 1002, 0, 0, wire.Options{})
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v after the refused SYN, want nothing until the next request", s)
	}
	c.response(10)
	c.data("again")
	wantSYN(t, r.snd.take(), 1005)
	if n := r.e.Stats().SessionsReestablished.Load(); n != 2 {
		t.Fatalf("reestablished %d, want 2", n)
	}
}

func TestReopenWhileTargetDown(t *testing.T) {
	// While the target is down its RST refuses the new SYN: the session
	// waits for the next request and tries again then.
	r, c, tu := askedOnce(t)
	r.rec(tu, wire.FlagRST, targetISN+1, 0, 0, 0, wire.Options{})
	c.response(10)
	c.data("r2") // 1002..1003
	t1 := wantSYN(t, r.snd.take(), 1001)
	r.rec(t1, wire.FlagRST|wire.FlagACK, 0, 1002, 0, 0, wire.Options{})
	c.data("r2 continued") // no new request: dropped
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v while waiting for a request", s)
	}
	c.response(10)
	c.data("r3")
	t2 := wantSYN(t, r.snd.take(), c.seq-2-1)
	if t2 == t1 {
		t.Fatal("second attempt on the refused tuple")
	}
	if sent := r.synAck(t2, c.seq-3); len(sent) != 1 || string(sent[0].payload) != "r3" {
		t.Fatalf("sent %+v, want r3", sent)
	}
	r.advance(DefaultIdleTimeout + time.Second)
	if s := r.summaryOf(); s.Fate != FateTimedOut || s.Reestablished != 2 {
		t.Fatalf("summary %+v, want reestablished 2", s)
	}

	// A reopened SYN that is never answered waits too, no RST storm.
	r, c, tu = askedOnce(t)
	r.rec(tu, wire.FlagRST, targetISN+1, 0, 0, 0, wire.Options{})
	c.response(10)
	c.data("r2")
	wantSYN(t, r.snd.take(), 1001)
	r.advance(DefaultSynTimeout + time.Millisecond)
	r.snd.take()
	if len(r.fateList()) != 0 {
		t.Fatalf("fates %v after the reopened SYN timed out, want the session waiting", r.fateList())
	}
	c.response(10)
	c.data("r3")
	wantSYN(t, r.snd.take(), c.seq-3)
}

func TestReopenBufferedRequest(t *testing.T) {
	// The next request was already captured (held by pacing) when the
	// target reset: the new connection opens at once for it.
	r, c, tu := askedOnce(t)
	c.response(10)
	c.data("held")
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v, want the request held", s)
	}
	r.rec(tu, wire.FlagRST, targetISN+1, 0, 0, 0, wire.Options{})
	nt := wantSYN(t, r.snd.take(), 1001)
	if sent := r.synAck(nt, 1001); len(sent) != 1 || string(sent[0].payload) != "held" || sent[0].seq != 1002 {
		t.Fatalf("sent %+v, want the held request", sent)
	}
}

// distinctClient is the i-th of many client addresses.
func distinctClient(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(1024+i>>16))
}

func TestSynFloodSheds(t *testing.T) {
	const limit, flood, est = 1000, 100_000, 10
	r := newEngRig(t, func(c *Config) { c.MaxSessions = limit })
	var conns []*capConn
	var tuples []wire.Tuple
	for i := range est {
		c := r.capConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 40000), online4, 1000)
		tuples = append(tuples, r.established(c, false))
		conns = append(conns, c)
	}
	r.snd.keep = false
	for i := range flood {
		r.e.HandlePacket(buildCaptured(capSpec{src: distinctClient(i), dst: online4, seq: 7, flags: header.TCPFlagSyn}), r.clk.Now())
		if i%10000 == 0 {
			r.clk.add(time.Millisecond)
		}
		if n := r.e.Sessions(); n > limit {
			t.Fatalf("after %d SYNs %d sessions, over the limit %d", i+1, n, limit)
		}
	}
	w := r.e.workers[0]
	if len(w.sessions) != limit || w.live != limit {
		t.Fatalf("table %d sessions (%d live), want %d", len(w.sessions), w.live, limit)
	}
	if got, want := r.e.Stats().Fate(FateShed), uint64(est+flood-limit); got != want {
		t.Fatalf("shed %d, want %d", got, want)
	}
	if q := len(w.table.all.q) - w.table.all.head + len(w.table.halfOpen.q) - w.table.halfOpen.head; q > 4*limit+256 {
		t.Fatalf("shedding queues hold %d entries for %d sessions", q, limit)
	}
	// The established sessions were not shed: each still sends.
	r.snd.keep = true
	for i, c := range conns {
		c.data("x")
		sent := r.snd.take()
		if len(sent) != 1 || tupleOf(sent[0]) != tuples[i] {
			t.Fatalf("established session %d sent %+v after the flood", i, sent)
		}
	}
	for _, s := range r.fates {
		if s.Fate == FateShed && s.Original.Client.Addr().As4()[0] == 192 {
			t.Fatalf("an established session was shed: %+v", s)
		}
	}
}

func TestShedOldestWhenNoneHalfOpen(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.MaxSessions = 2 })
	var tuples []wire.Tuple
	for i := range 3 {
		c := r.capConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 40000), online4, 1000)
		c.handshake(time.Millisecond) // the client's ACK: not half-open
		sent := r.snd.take()
		if i == 2 {
			if len(sent) != 2 || !sent[0].has(header.TCPFlagRst) || tupleOf(sent[0]) != tuples[0] || !sent[1].has(header.TCPFlagSyn) {
				t.Fatalf("third connection sent %+v, want RST to the oldest then its SYN", sent)
			}
			break
		}
		tuples = append(tuples, tupleOf(sent[0]))
	}
	r.wantFates(FateShed)
}

func TestZeroWindowTargetBounded(t *testing.T) {
	// Targets that stop reading: their sessions' buffers fill up to the
	// limits and end, never past the global limit; a session with a
	// reading target goes on.
	const memLimit = 20_000
	r := newEngRig(t, func(c *Config) { c.MemoryLimit = memLimit; c.SessionBuffer = 8_000 })
	var stalled []*capConn
	for i := range 5 {
		c := r.capConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 40000), online4, 1000)
		tu := r.established(c, false)
		c.data("q")
		r.rec(tu, wire.FlagACK, targetISN+1, 1002, 0, 0, wire.Options{}) // zero window
		r.snd.take()
		stalled = append(stalled, c)
	}
	ok := r.capConn(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 99}), 40000), online4, 1000)
	okTuple := r.established(ok, false)
	r.snd.take()
	chunk := string(make([]byte, 1000))
	for range 12 {
		for _, c := range stalled {
			c.data(chunk)
			if b := r.e.BufferedBytes(); b > memLimit {
				t.Fatalf("buffered %d, over the memory limit %d", b, memLimit)
			}
		}
		r.advance(time.Second) // persist probes go on meanwhile
	}
	if n := r.e.Stats().Fate(FateBufferLimit); n != uint64(len(stalled)) {
		t.Fatalf("buffer_limit fates %d, want %d", n, len(stalled))
	}
	r.snd.take()
	ok.data("alive")
	if sent := r.snd.take(); len(sent) != 1 || tupleOf(sent[0]) != okTuple || string(sent[0].payload) != "alive" {
		t.Fatalf("the reading session sent %+v", sent)
	}
	if b := r.e.BufferedBytes(); b != 5 {
		t.Fatalf("buffered %d, want only the live session's 5 bytes", b)
	}
}

func TestStaleTargetConnectionReset(t *testing.T) {
	// A copier restarted while its sessions were open joins a connection
	// mid-stream on the tuple the target still holds: the target answers
	// the SYN with a challenge ACK of the old connection. We reset it and
	// the retransmitted SYN opens the new one.
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 5000)
	c.data("mid") // 5000..5002: joined mid-stream, SYN seq 4999
	tu := wantSYN(t, r.snd.take(), 4999)
	r.rec(tu, wire.FlagACK, 777000, 4900, 1000, 0, wire.Options{}) // the old connection's ACK
	sent := r.snd.take()
	if len(sent) != 1 || sent[0].flags != header.TCPFlagRst || sent[0].seq != 4900 || tupleOf(sent[0]) != tu {
		t.Fatalf("sent %+v, want RST seq 4900 (the challenge ACK's ack)", sent)
	}
	if n := r.e.Stats().StaleResets.Load(); n != 1 {
		t.Fatalf("stale resets %d, want 1", n)
	}
	r.advance(time.Duration(initialRTO))
	if s := r.snd.take(); len(s) != 1 || s[0].flags != header.TCPFlagSyn || s[0].seq != 4999 {
		t.Fatalf("sent %+v, want the SYN again", s)
	}
	if s := r.synAck(tu, 4999); len(s) != 1 || string(s[0].payload) != "mid" {
		t.Fatalf("sent %+v, want the request", s)
	}
	if len(r.fateList()) != 0 {
		t.Fatalf("fates %v", r.fateList())
	}
}

// A new session whose SYN the target refuses (its server is restarting)
// retries the SYN on the retransmission timer until the SYN deadline: a
// target back in time gets the session and the request buffered meanwhile;
// one refused until the deadline ends target_reset.
func TestSynRefusedRetried(t *testing.T) {
	for _, back := range []bool{true, false} {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		c.handshake(time.Millisecond)
		syn := r.snd.take()
		if len(syn) != 1 || syn[0].flags != header.TCPFlagSyn {
			t.Fatalf("sent %+v, want the SYN", syn)
		}
		tu := tupleOf(syn[0])
		r.rec(tu, wire.FlagRST|wire.FlagACK, 0, 1001, 0, 0, wire.Options{})
		c.data("GET /x") // buffered while the target is down
		if s := r.snd.take(); len(s) != 0 {
			t.Fatalf("sent %+v right after the refusal, want nothing", s)
		}
		r.advance(1100 * time.Millisecond) // the first retransmission timeout
		again := r.snd.take()
		if len(again) != 1 || again[0].flags != header.TCPFlagSyn || tupleOf(again[0]) != tu {
			t.Fatalf("sent %+v, want the SYN again on %v", again, tu)
		}
		if got := r.e.Stats().SynRefused.Load(); got != 1 {
			t.Fatalf("syn_refused %d, want 1", got)
		}
		if back {
			r.rec(tu, wire.FlagSYN|wire.FlagACK, targetISN, 1001, 65535, 0, wire.Options{Has: wire.OptMSS, MSS: 1400})
			sent := r.snd.take()
			var payload string
			for _, p := range sent {
				payload += string(p.payload)
			}
			if payload != "GET /x" {
				t.Fatalf("after the target came back sent %+v, want the buffered request", sent)
			}
			continue
		}
		for range 3 {
			r.rec(tu, wire.FlagRST|wire.FlagACK, 0, 1001, 0, 0, wire.Options{})
			r.advance(2 * time.Second)
		}
		r.advance(DefaultSynTimeout)
		if s := r.summaryOf(); s.Fate != FateTargetReset {
			t.Fatalf("summary %+v, want target_reset after refusals until the deadline", s)
		}
	}
}

// A target that resets every connection right after its request (it
// refuses what the replay sends) gets maxQuickReopens new connections,
// not one per captured request; a reopened connection that lasted longer
// than quickConn starts the count again.
func TestReopenGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pause time.Duration // how long each reopened connection lives
		syns  int           // reopened connections over 6 requests
		fate  bool          // the session ended before its client
	}{
		{"quick resets", 0, maxQuickReopens, true},
		{"slow resets", 2 * time.Second, 6, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngRig(t, nil)
			c := r.capConn(client4, online4, 1000)
			tu := r.established(c, true)
			c.data("GET /0")
			r.snd.take()
			r.rec(tu, wire.FlagRST, targetISN+1, 0, 0, 0, wire.Options{})
			syns := 0
			for i := 1; i <= 6 && r.e.Sessions() > 0; i++ {
				c.response(20)
				isn := c.seq - 1 // a reopened connection's ISN: its request's first seq - 1
				c.data(fmt.Sprintf("GET /%d", i))
				sent := r.snd.take()
				if len(sent) == 0 {
					break
				}
				nt := wantSYN(t, sent, isn)
				syns++
				r.synAck(nt, isn)
				r.advance(tc.pause)
				r.snd.take() // retransmissions of the unanswered request
				r.rec(nt, wire.FlagRST, targetISN+1, 0, 0, 0, wire.Options{})
			}
			if syns != tc.syns {
				t.Fatalf("%d reopened connections, want %d", syns, tc.syns)
			}
			given := r.e.Stats().ReopensGivenUp.Load()
			if tc.fate {
				if s := r.summaryOf(); s.Fate != FateTargetReset || given != 1 {
					t.Fatalf("summary %+v, given up %d: want target_reset, 1", s, given)
				}
			} else if given != 0 || r.e.Sessions() != 1 {
				t.Fatalf("given up %d, sessions %d: want the session alive", given, r.e.Sessions())
			}
		})
	}
}
