package copier

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func TestHandshakeAndData(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cli, srv netip.AddrPort
	}{
		{"ipv4", client4, online4},
		{"ipv6", client6, online6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngRig(t, nil)
			c := r.capConn(tc.cli, tc.srv, 1000)
			c.handshake(3 * time.Millisecond)
			sent := r.snd.take()
			if len(sent) != 1 {
				t.Fatalf("sent %d packets after SYN+ACK capture, want 1 (SYN only; client ACK never forwarded)", len(sent))
			}
			syn := sent[0]
			wantDst := target4
			if tc.name == "ipv6" {
				wantDst = target6
			}
			if syn.flags != header.TCPFlagSyn || syn.seq != 1000 || syn.src != tc.cli || syn.dst != wantDst {
				t.Fatalf("SYN = %+v", syn)
			}
			if syn.opts.MSS != 1460 || syn.opts.WS != 7 || !syn.opts.TS || syn.opts.TSVal != 777 || !syn.opts.SACKPermitted || syn.win != 64240 {
				t.Fatalf("SYN options not the client's: %+v win %d", syn.opts, syn.win)
			}
			tu := tupleOf(syn)
			r.rec(tu, wire.FlagSYN|wire.FlagACK, targetISN, 1001, 65535, 0,
				wire.Options{Has: wire.OptMSS | wire.OptWScale | wire.OptTimestamp, MSS: 1400, WScale: 2, TSVal: 4242})
			sent = r.snd.take()
			if len(sent) != 1 || sent[0].flags != header.TCPFlagAck || sent[0].seq != 1001 || sent[0].ack != targetISN+1 {
				t.Fatalf("after SYN-ACK sent %+v, want ACK seq 1001 ack ISN+1", sent)
			}
			c.data("GET / HTTP/1.1\r\n\r\n")
			sent = r.snd.take()
			if len(sent) != 1 || string(sent[0].payload) != "GET / HTTP/1.1\r\n\r\n" || sent[0].seq != 1001 || sent[0].ack != targetISN+1 {
				t.Fatalf("data sent %+v", sent)
			}
			if !sent[0].opts.TS || sent[0].opts.TSEcr != 4242 {
				t.Fatalf("data segment lacks TS with TSecr=4242: %+v", sent[0].opts)
			}
			// Target acks and responds; a delayed ACK covers the response.
			r.rec(tu, wire.FlagACK|wire.FlagPSH, targetISN+1, 1001+18, 1000, 300, wire.Options{Has: wire.OptTimestamp, TSVal: 4250})
			if s := r.snd.take(); len(s) != 0 {
				t.Fatalf("ACK not delayed: %+v", s)
			}
			r.advance(50 * time.Millisecond)
			sent = r.snd.take()
			if len(sent) != 1 || sent[0].flags != header.TCPFlagAck || sent[0].ack != targetISN+1+300 || sent[0].opts.TSEcr != 4250 {
				t.Fatalf("delayed ACK = %+v", sent)
			}
		})
	}
}

func TestPacing(t *testing.T) {
	cases := []struct {
		name    string
		noPace  bool
		respond func(r *engRig, tu wire.Tuple)
		// wantHeldUntil: after respond, is request 2 sent at once?
		wantImmediate bool
		wantAfter     time.Duration // else: sent after this much idle
	}{
		{"acked-complete releases at once", false, func(r *engRig, tu wire.Tuple) {
			r.rec(tu, wire.FlagACK, targetISN+1, 1001+5, 1000, 60, wire.Options{})
			if s := r.snd.take(); len(s) != 0 {
				r.t.Fatalf("request 2 released after 60 of 100 response bytes: %+v", s)
			}
			r.rec(tu, wire.FlagACK, targetISN+61, 1001+5, 1000, 40, wire.Options{})
		}, true, 0},
		{"response idle releases", false, func(r *engRig, tu wire.Tuple) {
			r.rec(tu, wire.FlagACK, targetISN+1, 1001+5, 1000, 50, wire.Options{})
		}, false, 2 * 2 * time.Millisecond},
		{"no pacing", true, func(r *engRig, tu wire.Tuple) {}, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngRig(t, func(c *Config) { c.NoPacing = tc.noPace })
			c := r.capConn(client4, online4, 1000)
			tu := r.established(c, false)
			c.data("req1\n")
			c.response(100) // the online server answered 100 bytes
			c.data("req2\n")
			sent := r.snd.take()
			if tc.noPace {
				if len(sent) != 2 {
					t.Fatalf("NoPacing sent %d segments, want both requests", len(sent))
				}
				return
			}
			if len(sent) != 1 || string(sent[0].payload) != "req1\n" {
				t.Fatalf("sent %+v, want req1 only (req2 held for the response)", sent)
			}
			tc.respond(r, tu)
			sent = r.snd.take()
			if tc.wantImmediate {
				if len(sent) != 1 || string(sent[0].payload) != "req2\n" || sent[0].ack != targetISN+101 {
					t.Fatalf("after the full response sent %+v, want req2 acking it", sent)
				}
				return
			}
			if len(sent) != 0 {
				t.Fatalf("released too early: %+v", sent)
			}
			r.advance(tc.wantAfter - time.Millisecond)
			for _, p := range r.snd.take() {
				if len(p.payload) > 0 {
					t.Fatalf("released before the response went idle: %+v", p)
				}
			}
			r.advance(2 * time.Millisecond)
			var got []string
			for _, p := range r.snd.take() {
				if len(p.payload) > 0 {
					got = append(got, string(p.payload))
				}
			}
			if len(got) != 1 || got[0] != "req2\n" {
				t.Fatalf("after the idle time sent %q, want req2", got)
			}
		})
	}
}

// A request continuing with the same online ack is not held.
func TestSameAckSegmentsNotHeld(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	c.data("part1")
	c.data("part2")
	if s := r.snd.take(); len(s) != 2 {
		t.Fatalf("sent %d, want both parts of one request", len(s))
	}
}

func TestCaptureGapAndOutOfOrder(t *testing.T) {
	t.Run("out of order is reordered", func(t *testing.T) {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		r.established(c, false)
		base := c.seq
		c.seq = base + 3
		c.data("def")
		if s := r.snd.take(); len(s) != 0 {
			t.Fatalf("sent beyond a hole: %+v", s)
		}
		c.seq = base
		c.data("abc")
		sent := r.snd.take()
		if len(sent) != 2 || string(sent[0].payload) != "abc" || string(sent[1].payload) != "def" || sent[1].seq != base+3 {
			t.Fatalf("sent %+v, want abc then def", sent)
		}
		if r.e.Stats().CaptureOutOfOrder.Load() != 1 {
			t.Fatalf("out-of-order count %d", r.e.Stats().CaptureOutOfOrder.Load())
		}
	})
	t.Run("missing segment times out", func(t *testing.T) {
		r := newEngRig(t, func(c *Config) { c.GapTimeout = time.Second })
		c := r.capConn(client4, online4, 1000)
		tu := r.established(c, false)
		c.data("abc")
		c.seq += 3 // lost in capture
		c.data("ghi")
		sent := r.snd.take()
		if len(sent) != 1 || string(sent[0].payload) != "abc" {
			t.Fatalf("sent %+v", sent)
		}
		r.rec(tu, wire.FlagACK, targetISN+1, 1004, 1000, 0, wire.Options{})
		r.advance(999 * time.Millisecond)
		if s := r.snd.take(); len(s) != 0 {
			t.Fatalf("gave up early: %+v", s)
		}
		r.advance(2 * time.Millisecond)
		sent = r.snd.take()
		if len(sent) != 1 || !sent[0].has(header.TCPFlagRst) || sent[0].seq != 1004 {
			t.Fatalf("sent %+v, want RST at seq 1004", sent)
		}
		r.wantFates(FateCaptureGap)
	})
}

func TestClientRetransmitNotDuplicated(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	c.data("hello")
	c.seq -= 5
	c.data("hello") // the client retransmits
	c.seq -= 2
	c.data("lo world") // partial overlap
	sent := r.snd.take()
	if len(sent) != 2 || string(sent[0].payload) != "hello" || string(sent[1].payload) != " world" || sent[1].seq != 1006 {
		t.Fatalf("sent %+v, want hello then ' world'", sent)
	}
	if n := r.e.Stats().CaptureDups.Load(); n != 1 {
		t.Fatalf("duplicates counted %d, want 1", n)
	}
}

func TestZeroWindowAndProbe(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("abcd")
	r.snd.take()
	r.rec(tu, wire.FlagACK, targetISN+1, 1005, 0, 0, wire.Options{}) // acked, window closed
	c.data("efgh")
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent into a zero window: %+v", s)
	}
	r.advance(201 * time.Millisecond)
	sent := r.snd.take()
	if len(sent) != 1 || len(sent[0].payload) != 0 || sent[0].seq != 1004 {
		t.Fatalf("sent %+v, want one window probe with seq una-1", sent)
	}
	r.advance(300 * time.Millisecond) // back-off: next probe at +400ms
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("probe not backed off: %+v", s)
	}
	r.advance(101 * time.Millisecond)
	if s := r.snd.take(); len(s) != 1 {
		t.Fatalf("second probe missing: %+v", s)
	}
	r.rec(tu, wire.FlagACK, targetISN+1, 1005, 100, 0, wire.Options{}) // window opens
	sent = r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "efgh" {
		t.Fatalf("after the window opened sent %+v", sent)
	}
	if r.e.Stats().WindowProbes.Load() != 2 {
		t.Fatalf("window probes %d", r.e.Stats().WindowProbes.Load())
	}
}

func TestWindowLimitsData(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	r.rec(tu, wire.FlagACK, targetISN+1, 1001, 2, 0, wire.Options{}) // 2<<2 = 8 bytes
	c.data("0123456789abcdef")
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "01234567" {
		t.Fatalf("sent %+v, want the 8 bytes the window allows", sent)
	}
	r.rec(tu, wire.FlagACK, targetISN+1, 1009, 2, 0, wire.Options{})
	sent = r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "89abcdef" {
		t.Fatalf("sent %+v, want the next 8", sent)
	}
}

func TestTargetProbesAnswered(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	r.rec(tu, wire.FlagACK, targetISN, 1001, 1000, 0, wire.Options{}) // keepalive: seq = rcv.nxt-1
	r.rec(tu, wire.FlagACK, targetISN, 1001, 1000, 1, wire.Options{}) // 1-byte keepalive
	sent := r.snd.take()
	if len(sent) != 2 || sent[0].ack != targetISN+1 || sent[1].ack != targetISN+1 {
		t.Fatalf("sent %+v, want two ACKs of ISN+1", sent)
	}
}

func TestResets(t *testing.T) {
	t.Run("target RST", func(t *testing.T) {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		tu := r.established(c, false)
		c.data("x")
		r.snd.take()
		r.rec(tu, wire.FlagRST, targetISN+1, 0, 0, 0, wire.Options{})
		c.data("y") // the rest of the reset request: no new connection for it
		if s := r.snd.take(); len(s) != 0 {
			t.Fatalf("sent after target RST: %+v", s)
		}
		// The session waits for the client's next request (reopen.go);
		// the client closing instead ends it.
		c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
		if s := r.snd.take(); len(s) != 0 {
			t.Fatalf("sent after target RST and client FIN: %+v", s)
		}
		r.wantFates(FateTargetReset)
	})
	t.Run("client RST after data acked", func(t *testing.T) {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		tu := r.established(c, false)
		c.data("x")
		c.send(header.TCPFlagRst|header.TCPFlagAck, nil, nil)
		if s := r.snd.take(); len(s) != 1 || len(s[0].payload) != 1 {
			t.Fatalf("sent %+v, want data only (RST waits for the ack)", s)
		}
		r.rec(tu, wire.FlagACK, targetISN+1, 1002, 1000, 0, wire.Options{})
		sent := r.snd.take()
		if len(sent) != 1 || !sent[0].has(header.TCPFlagRst) || sent[0].seq != 1002 {
			t.Fatalf("sent %+v, want RST seq 1002", sent)
		}
		r.wantFates(FateReplayed)
	})
}

// askedOnce is an established session whose one-byte request "q" was sent.
func askedOnce(t *testing.T) (*engRig, *capConn, wire.Tuple) {
	t.Helper()
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("q")
	r.snd.take()
	return r, c, tu
}

func TestFIN(t *testing.T) {
	t.Run("client closes first", func(t *testing.T) {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		tu := r.established(c, false)
		c.data("bye")
		c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
		if s := r.snd.take(); len(s) != 1 || s[0].has(header.TCPFlagFin) {
			t.Fatalf("sent %+v, want data only: FIN waits for the data's ack", s)
		}
		r.rec(tu, wire.FlagACK, targetISN+1, 1004, 1000, 0, wire.Options{})
		sent := r.snd.take()
		if len(sent) != 1 || !sent[0].has(header.TCPFlagFin) || sent[0].seq != 1004 {
			t.Fatalf("sent %+v, want FIN seq 1004", sent)
		}
		r.rec(tu, wire.FlagACK|wire.FlagFIN, targetISN+1, 1005, 1000, 0, wire.Options{})
		sent = r.snd.take()
		if len(sent) != 1 || sent[0].flags != header.TCPFlagAck || sent[0].ack != targetISN+2 {
			t.Fatalf("sent %+v, want the ACK of the target's FIN", sent)
		}
		r.wantFates(FateReplayed)
		if r.rt.dels != 1 {
			t.Fatalf("routes deleted %d, want 1", r.rt.dels)
		}
	})
	t.Run("target closes first", func(t *testing.T) {
		// The ACK of the target's data+FIN waits for the client's FIN,
		// which carries it: one packet instead of two.
		r, c, tu := askedOnce(t)
		r.rec(tu, wire.FlagACK|wire.FlagFIN, targetISN+1, 1002, 1000, 10, wire.Options{})
		if sent := r.snd.take(); len(sent) != 0 {
			t.Fatalf("sent %+v, want nothing yet (delayed ACK)", sent)
		}
		r.advance(10 * time.Millisecond)
		c.response(11)
		c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
		sent := r.snd.take()
		if len(sent) != 1 || !sent[0].has(header.TCPFlagFin) || sent[0].ack != targetISN+1+10+1 {
			t.Fatalf("sent %+v, want our FIN acking data+FIN", sent)
		}
		r.rec(tu, wire.FlagACK, targetISN+12, 1003, 1000, 0, wire.Options{})
		r.wantFates(FateReplayed)
	})
	t.Run("target closes first, client stays", func(t *testing.T) {
		r, _, tu := askedOnce(t)
		r.rec(tu, wire.FlagACK|wire.FlagFIN, targetISN+1, 1002, 1000, 10, wire.Options{})
		r.advance(time.Duration(maxDelAck) - time.Millisecond)
		if sent := r.snd.take(); len(sent) != 0 {
			t.Fatalf("sent %+v before the delayed-ACK interval", sent)
		}
		r.advance(2 * time.Millisecond)
		sent := r.snd.take()
		if len(sent) != 1 || sent[0].flags != header.TCPFlagAck || sent[0].ack != targetISN+1+10+1 {
			t.Fatalf("sent %+v, want the delayed ACK of data+FIN", sent)
		}
	})
	t.Run("client FIN waits for the target's FIN", func(t *testing.T) {
		// The client's FIN acks the online server's response and FIN: it is
		// held until the target's arrive, then one FIN carries the ACK.
		r, c, tu := askedOnce(t)
		r.rec(tu, wire.FlagACK, targetISN+1, 1002, 1000, 0, wire.Options{})
		c.response(11)
		c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
		if sent := r.snd.take(); len(sent) != 0 {
			t.Fatalf("sent %+v, want the FIN held until the response", sent)
		}
		r.rec(tu, wire.FlagACK|wire.FlagFIN, targetISN+1, 1002, 1000, 10, wire.Options{})
		sent := r.snd.take()
		if len(sent) != 1 || !sent[0].has(header.TCPFlagFin) || sent[0].ack != targetISN+12 {
			t.Fatalf("sent %+v, want one FIN acking data+FIN", sent)
		}
		r.rec(tu, wire.FlagACK, targetISN+12, 1003, 1000, 0, wire.Options{})
		r.wantFates(FateReplayed)
	})
	t.Run("no target FIN: linger then RST", func(t *testing.T) {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		tu := r.established(c, false)
		c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
		r.rec(tu, wire.FlagACK, targetISN+1, 1002, 1000, 0, wire.Options{})
		r.snd.take()
		r.advance(time.Duration(finLinger) + time.Millisecond)
		sent := r.snd.take()
		if len(sent) != 1 || !sent[0].has(header.TCPFlagRst) {
			t.Fatalf("sent %+v, want RST after the linger", sent)
		}
		r.wantFates(FateReplayed)
	})
}

func TestMidStreamJoin(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.MSS = 1300 })
	c := r.capConn(client4, online4, 7000)
	c.data("POST")
	sent := r.snd.take()
	if len(sent) != 1 || sent[0].flags != header.TCPFlagSyn || sent[0].seq != 6999 || sent[0].opts.MSS != 1300 || sent[0].opts.TS || sent[0].opts.WS != -1 {
		t.Fatalf("sent %+v, want a synthesized SYN seq 6999 with only MSS 1300", sent)
	}
	tu := tupleOf(sent[0])
	r.rec(tu, wire.FlagSYN|wire.FlagACK, targetISN, 7000, 65535, 0, wire.Options{Has: wire.OptMSS | wire.OptTimestamp, MSS: 1460, TSVal: 9})
	sent = r.snd.take()
	// The buffered request completes the handshake itself: no separate
	// pure ACK before it.
	if len(sent) != 1 || !sent[0].has(header.TCPFlagAck) || sent[0].ack != targetISN+1 ||
		string(sent[0].payload) != "POST" || sent[0].seq != 7000 || sent[0].opts.TS {
		t.Fatalf("sent %+v, want the data carrying the third ACK, no TS", sent)
	}
	if r.e.Stats().SynthesizedSYNs.Load() != 1 {
		t.Fatal("synthesized SYN not counted")
	}
}

func TestRequireSYN(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.RequireSYN = true })
	c := r.capConn(client4, online4, 7000)
	c.data("POST")
	c.data("more")
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v", s)
	}
	r.wantFates(FateNoSYN)
}

func TestIdleTimeout(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.IdleTimeout = 10 * time.Second })
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("a")
	r.rec(tu, wire.FlagACK, targetISN+1, 1002, 1000, 0, wire.Options{})
	r.snd.take()
	r.advance(9 * time.Second)
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v", s)
	}
	r.advance(1001 * time.Millisecond)
	sent := r.snd.take()
	if len(sent) != 1 || !sent[0].has(header.TCPFlagRst) || sent[0].seq != 1002 {
		t.Fatalf("sent %+v, want RST", sent)
	}
	r.wantFates(FateTimedOut)
}

func TestSYNBackoff(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.SynTimeout = 8 * time.Second })
	c := r.capConn(client4, online4, 1000)
	c.handshake(time.Millisecond)
	r.snd.take()
	var at []time.Duration
	for i := 1; i <= 8100; i++ {
		r.advance(time.Millisecond)
		for _, p := range r.snd.take() {
			if p.flags == header.TCPFlagSyn {
				at = append(at, time.Duration(i)*time.Millisecond)
			} else if !p.has(header.TCPFlagRst) {
				t.Fatalf("unexpected %+v", p)
			}
		}
	}
	// RFC 6298: 1 s before any round trip is measured, then doubling.
	want := []time.Duration{time.Second, 3 * time.Second, 7 * time.Second}
	if len(at) != len(want) {
		t.Fatalf("SYN retransmitted at %v, want %v", at, want)
	}
	for i := range want {
		if d := at[i] - want[i]; d < -2*time.Millisecond || d > 2*time.Millisecond {
			t.Fatalf("SYN retransmitted at %v, want %v", at, want)
		}
	}
	r.wantFates(FateSynTimeout)
}

// The retransmission timeout follows the measured round trip: the
// handshake's sample gives srtt + 4·rttvar; a handshake whose SYN was
// retransmitted gives no sample (Karn) and keeps the initial timeout.
func TestRTOFromMeasuredRTT(t *testing.T) {
	for _, tc := range []struct {
		name     string
		synAfter time.Duration // SYN-ACK this long after the first SYN
		synRetx  bool
		want     time.Duration // first data retransmission after the send
	}{
		{"fast target: floor", 2 * time.Millisecond, false, time.Duration(baseRTO)},
		{"300ms round trip", 300 * time.Millisecond, false, 900 * time.Millisecond}, // 300 + 4·150
		{"SYN retransmitted", 1200 * time.Millisecond, true, time.Duration(initialRTO)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEngRig(t, nil)
			c := r.capConn(client4, online4, 1000)
			c.handshake(time.Millisecond)
			r.advance(tc.synAfter - time.Millisecond)
			sent := r.snd.take()
			syns := 0
			for _, p := range sent {
				if p.has(header.TCPFlagSyn) {
					syns++
				}
			}
			if syns < 1 || (syns > 1) != tc.synRetx {
				t.Fatalf("%d SYNs sent before the SYN-ACK, want retransmission %v", syns, tc.synRetx)
			}
			tu := tupleOf(sent[0])
			r.rec(tu, wire.FlagSYN|wire.FlagACK, targetISN, sent[0].seq+1, 65535, 0, wire.Options{Has: wire.OptMSS, MSS: 1400})
			r.snd.take()
			c.data("lost")
			if got := r.snd.take(); len(got) != 1 || string(got[0].payload) != "lost" {
				t.Fatalf("sent %+v, want the request", got)
			}
			for i := 1; i <= 3000; i++ {
				r.advance(time.Millisecond)
				if got := r.snd.take(); len(got) > 0 {
					at := time.Duration(i) * time.Millisecond
					if d := at - tc.want; d < -2*time.Millisecond || d > 2*time.Millisecond {
						t.Fatalf("retransmitted after %v, want %v", at, tc.want)
					}
					return
				}
			}
			t.Fatal("no retransmission within 3s")
		})
	}
}

func TestDataBackoff(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	c.data("lost")
	r.snd.take()
	var at []time.Duration
	var rst bool
	for i := 1; i <= 200_000 && !rst; i++ {
		r.advance(time.Millisecond)
		for _, p := range r.snd.take() {
			if p.has(header.TCPFlagRst) {
				rst = true
				continue
			}
			if string(p.payload) != "lost" || p.seq != 1001 {
				t.Fatalf("retransmitted %+v", p)
			}
			at = append(at, time.Duration(i)*time.Millisecond)
		}
	}
	if len(at) != maxDataRetries || !rst {
		t.Fatalf("%d retransmissions (%v), rst %v; want %d then RST", len(at), at, rst, maxDataRetries)
	}
	for i := 1; i < len(at); i++ {
		gap, prev := at[i]-at[i-1], time.Duration(baseRTO)<<i
		if gap < prev-2*time.Millisecond || gap > prev+2*time.Millisecond {
			t.Fatalf("retransmission gaps not doubling: %v", at)
		}
	}
	r.wantFates(FateRetransLimit)
}

func TestSuperPacketSplit(t *testing.T) {
	for _, ts := range []bool{false, true} {
		r := newEngRig(t, nil)
		c := r.capConn(client4, online4, 1000)
		r.established(c, ts)
		big := bytes.Repeat([]byte("0123456789"), 500) // 5000 bytes, target MSS 1400
		c.data(string(big))
		mss := 1400
		if ts {
			mss -= 12
		}
		var got []byte
		sent := r.snd.take()
		for i, p := range sent {
			if len(p.payload) > mss {
				t.Fatalf("segment of %d bytes exceeds MSS %d", len(p.payload), mss)
			}
			if p.seq != 1001+uint32(len(got)) {
				t.Fatalf("segment %d seq %d", i, p.seq)
			}
			got = append(got, p.payload...)
		}
		if !bytes.Equal(got, big) || len(sent) != (5000+mss-1)/mss {
			t.Fatalf("ts=%v: %d segments, %d bytes", ts, len(sent), len(got))
		}
		if n := r.e.Stats().SegmentsSplit.Load(); n != uint64(len(sent)-1) {
			t.Fatalf("split counter %d", n)
		}
	}
}

func TestBufferLimit(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.SessionBuffer = 100 })
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	c.data(string(make([]byte, 80)))
	c.data(string(make([]byte, 80)))
	sent := r.snd.take()
	if len(sent) != 2 || !sent[1].has(header.TCPFlagRst) {
		t.Fatalf("sent %+v, want data then RST", sent)
	}
	r.wantFates(FateBufferLimit)
	if r.e.BufferedBytes() != 0 {
		t.Fatalf("buffered bytes %d after the end", r.e.BufferedBytes())
	}
}

func TestCloseResetsSessions(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	c.data("abc")
	r.snd.take()
	r.e.Close()
	sent := r.snd.take()
	if len(sent) != 1 || !sent[0].has(header.TCPFlagRst) {
		t.Fatalf("sent %+v, want RST", sent)
	}
	r.wantFates(FateClosed)
	if r.e.BufferedBytes() != 0 {
		t.Fatalf("buffered %d", r.e.BufferedBytes())
	}
}

func TestLateStragglersIgnored(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("a")
	r.rec(tu, wire.FlagRST, targetISN+1, 0, 0, 0, wire.Options{})
	r.snd.take()
	c.data("b") // after the end: must not start a mid-stream session
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v", s)
	}
	c.seq = 50000
	c.handshake(time.Millisecond) // a new connection on the same tuple
	if s := r.snd.take(); len(s) != 1 || s[0].flags != header.TCPFlagSyn {
		t.Fatalf("sent %+v, want a new SYN", s)
	}
}

// A server-first protocol: the client's first data acks the online
// server's greeting, so it waits for the target's greeting.
func TestGreetingWait(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.response(20) // the online server sent a 20-byte greeting
	c.data("LOGIN")
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("sent %+v before the target's greeting", s)
	}
	r.rec(tu, wire.FlagACK|wire.FlagPSH, targetISN+1, 1001, 1000, 20, wire.Options{})
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "LOGIN" || sent[0].ack != targetISN+21 {
		t.Fatalf("sent %+v, want LOGIN acking the greeting", sent)
	}
}

func TestPortReuseNewSYN(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false)
	c.data("a")
	r.snd.take()
	c2 := r.capConn(client4, online4, 80000)
	c2.handshake(time.Millisecond)
	sent := r.snd.take()
	if len(sent) != 2 || !sent[0].has(header.TCPFlagRst) || sent[1].flags != header.TCPFlagSyn || sent[1].seq != 80000 {
		t.Fatalf("sent %+v, want RST of the old session then the new SYN", sent)
	}
	if sent[1].src == client4 {
		t.Fatal("new session reused a tuple the target holds in TIME_WAIT")
	}
	r.wantFates(FatePortReused)
}

func TestGlobalMemoryLimit(t *testing.T) {
	r := newEngRig(t, func(c *Config) { c.MemoryLimit = 150 })
	a := r.capConn(client4, online4, 1000)
	r.established(a, false)
	b := r.capConn(netip.AddrPortFrom(client4.Addr(), 40001), online4, 5000)
	r.established(b, false)
	a.data(string(make([]byte, 100))) // buffered until acked
	b.data(string(make([]byte, 100))) // over the global limit
	r.wantFates(FateBufferLimit)
	if got := r.e.BufferedBytes(); got != 100 {
		t.Fatalf("buffered %d, want 100 (the first session's)", got)
	}
	if r.e.Stats().BufferDrops.Load() != 1 {
		t.Fatal("drop not counted")
	}
}

func TestFastRetransmit(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("aaaa")
	c.data("bbbb")
	c.data("cccc")
	r.snd.take()
	r.rec(tu, wire.FlagACK, targetISN+1, 1005, 65535, 0, wire.Options{}) // "bbbb" lost
	for range 2 {
		r.rec(tu, wire.FlagACK, targetISN+1, 1005, 65535, 0, wire.Options{})
	}
	if s := r.snd.take(); len(s) != 0 {
		t.Fatalf("retransmitted after two duplicate ACKs: %+v", s)
	}
	r.rec(tu, wire.FlagACK, targetISN+1, 1005, 65535, 0, wire.Options{})
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "bbbb" || sent[0].seq != 1005 {
		t.Fatalf("sent %+v, want a fast retransmit of bbbb", sent)
	}
}

// When the target refuses window scaling, the client's scaled window
// values must not be advertised as they are.
func TestWindowScaleRefused(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	c.handshake(time.Millisecond)
	syn := r.snd.take()[0]
	r.rec(tupleOf(syn), wire.FlagSYN|wire.FlagACK, targetISN, 1001, 65535, 0, wire.Options{Has: wire.OptMSS, MSS: 1400})
	c.data("x") // captured with the client's scaled window 502
	sent := r.snd.take()
	if len(sent) != 2 || sent[0].win != 65535 || sent[1].win != 65535 {
		t.Fatalf("sent %+v, want window 65535", sent)
	}
}

// A pluggable boundary detector: here a request starts with "GET", even
// when the ack did not move (the online server had not answered yet).
func TestCustomBoundary(t *testing.T) {
	r := newEngRig(t, func(c *Config) {
		c.Boundary = func(_, _ uint32, p []byte) bool { return bytes.HasPrefix(p, []byte("GET")) }
	})
	c := r.capConn(client4, online4, 1000)
	tu := r.established(c, false)
	c.data("GET /a\n")
	c.data("GET /b\n") // same ack: a pipelined request
	sent := r.snd.take()
	if len(sent) != 1 || string(sent[0].payload) != "GET /a\n" {
		t.Fatalf("sent %+v, want only the first request", sent)
	}
	r.rec(tu, wire.FlagACK, targetISN+1, 1008, 1000, 10, wire.Options{})
	r.advance(3 * time.Millisecond) // response idle: 2 x the captured 2 ms RTT
	r.advance(2 * time.Millisecond)
	var got []string
	for _, p := range r.snd.take() {
		if len(p.payload) > 0 {
			got = append(got, string(p.payload))
		}
	}
	if len(got) != 1 || got[0] != "GET /b\n" {
		t.Fatalf("after the response sent %q, want GET /b", got)
	}
}

// The online server's response time is estimated from the captured client
// stream: request to the client's own ACK of the response, less the
// client's handshake round trip. An ACK riding on the next request is not
// a sample (it carries the client's think time).
func TestOnlineResponseEstimate(t *testing.T) {
	r := newEngRig(t, nil)
	c := r.capConn(client4, online4, 1000)
	r.established(c, false) // client round trip 2 ms
	c.data("GET /1")
	r.clk.add(12 * time.Millisecond) // response after 10 ms + the 2 ms round trip
	c.response(100)
	c.send(header.TCPFlagAck, nil, nil)
	r.clk.add(50 * time.Millisecond)
	c.data("GET /2") // acks nothing new
	r.clk.add(7 * time.Millisecond)
	c.response(100)
	r.clk.add(300 * time.Millisecond) // think time, then the ACK rides on request 3
	c.data("GET /3")
	c.send(header.TCPFlagFin|header.TCPFlagAck, nil, nil)
	r.e.Close() // ends the session; its summary carries the estimate
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fates) != 1 {
		t.Fatalf("%d sessions ended, want 1", len(r.fates))
	}
	s := r.fates[0]
	if s.OnlineResponses != 1 || s.OnlineRespTotal != 10*time.Millisecond || s.OnlineRespMax != 10*time.Millisecond {
		t.Fatalf("online responses %d, total %v, max %v; want 1 of 10ms", s.OnlineResponses, s.OnlineRespTotal, s.OnlineRespMax)
	}
}
