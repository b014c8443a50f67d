package tcp

import (
	"fmt"
	"testing"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/protocoltest"
)

func TestCompareOff(t *testing.T) {
	if Compare(protocol.Options{}) != nil {
		t.Fatal("an uncompared tcp route has a protocol: it must stay the engine's passthrough")
	}
}

// call is one engine call on a compared tcp session.
type call struct {
	side protocol.Side
	data string
	end  bool
	sent int // > 0: Sent(sent-1), the engine sent that request's first byte
}

func cl(s string) call { return call{side: protocol.SideClient, data: s} }
func on(s string) call { return call{side: protocol.SideOnline, data: s} }
func tg(s string) call { return call{side: protocol.SideTarget, data: s} }
func end(side protocol.Side) call {
	return call{side: side, end: true}
}

// sent is the engine sending request n to the target: at once for the
// first, else once the target answered the one before (a ResponseComplete,
// the target falling quiet, or the engine's wait cap).
func sent(n int) call { return call{sent: n + 1} }

func TestCompareTurns(t *testing.T) {
	cases := []struct {
		name  string
		mid   bool
		calls []call
		marks string // marks of each call: s RequestStart, c ResponseComplete, S both, - none
		want  string // exchanges: request|online|target|same
	}{
		{"one request per turn", false,
			[]call{cl("GET a"), sent(0), cl(" more"), on("A1"), tg("A1"), on("x"), cl("GET b"), tg("x"), sent(1), tg("B"), on("B"), end(protocol.SideOnline)},
			"s----sc--c",
			"[GET a more|A1x|A1x|true GET b|B|B|true]"},
		// q2 released by the engine's wait cap before the target answered
		// q1: the target's bytes are shared out by the online lengths, and
		// q1's completion is no ResponseComplete (the engine waits for
		// q2's: q3 must not go out early).
		{"last response final at the end", false,
			[]call{cl("q1"), sent(0), on("r1"), cl("q2"), sent(1), on("r2"), tg("r1r"), tg("2"), end(protocol.SideOnline)},
			"s-s---c",
			"[q1|r1|r1|true q2|r2|r2|true]"},
		{"target differs, same length", false,
			[]call{cl("q1"), sent(0), on("aaaa"), cl("q2"), tg("aaba"), sent(1), on("b"), end(protocol.SideOnline), tg("c")},
			"s-sc--c",
			"[q1|aaaa|aaba|false q2|b|c|false]"},
		{"target shorter: its end completes it", false,
			[]call{cl("q1"), sent(0), on("long"), tg("lo"), end(protocol.SideOnline), end(protocol.SideTarget)},
			"s---c",
			"[q1|long|lo|false]"},
		{"greeting skipped", false,
			[]call{on("HELLO"), tg("HEL"), tg("LOhi"), cl("q"), sent(0), on("hi"), end(protocol.SideOnline)},
			"---s-c",
			"[q|hi|hi|true]"},
		{"midstream drops online bytes before the first request", true,
			[]call{on("old"), cl("q"), sent(0), on("r"), tg("r"), end(protocol.SideOnline)},
			"-s--c",
			"[q|r|r|true]"},
		{"target before the online response is final", false,
			[]call{cl("q1"), sent(0), tg("r1"), on("r1"), cl("q2"), sent(1), on("r2"), tg("r2"), end(protocol.SideTarget), end(protocol.SideOnline)},
			"s--S--c-",
			"[q1|r1|r1|true q2|r2|r2|true]"},
		// A longer target response keeps all its bytes (no early
		// ResponseComplete); q2 goes out on the target's silence, its
		// answer is its own.
		{"target longer: the next request pairs exactly", false,
			[]call{cl("q1"), sent(0), on("ab"), cl("q2"), tg("abc"), sent(1), tg("x"), on("x"), end(protocol.SideOnline)},
			"s-s---c",
			"[q1|ab|abc|false q2|x|x|true]"},
		// A shorter one is complete when q2 goes out: q2's answer does not
		// fill it up, nor q3's q2.
		{"target shorter: the later requests pair exactly", false,
			[]call{cl("q1"), sent(0), on("long"), cl("q2"), tg("lo"), sent(1), tg("r2"), on("r2"), cl("q3"), sent(2), on("r3"), tg("r3"), end(protocol.SideOnline)},
			"s-s---S--c",
			"[q1|long|lo|false q2|r2|r2|true q3|r3|r3|true]"},
		// A longer answer in one segment: its rest is not the next one's.
		{"target longer in one call", false,
			[]call{cl("q1"), sent(0), on("r1"), cl("q2"), tg("r1+extra"), sent(1), on("r2"), tg("r2"), cl("q3"), sent(2), on("r3"), tg("r3"), end(protocol.SideOnline)},
			"s-s---S--c",
			"[q1|r1|r1+extra|false q2|r2|r2|true q3|r3|r3|true]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := protocoltest.Open(t, Compare(protocol.Options{Compare: true}), protocol.Start{Midstream: c.mid})
			if p.Needs() != protocol.NeedsClient|protocol.NeedsOnline|protocol.NeedsTarget {
				t.Fatalf("needs %v", p.Needs())
			}
			marks := ""
			var xs []protocol.Exchange
			for i, k := range c.calls {
				var out []byte
				var m protocol.Mark
				switch {
				case k.sent > 0:
					p.(interface{ Sent(int, int64) }).Sent(k.sent-1, int64(i))
					continue // no call: no mark, no exchange taken
				case k.end:
					out, m = p.End(nil, k.side, int64(i))
				case k.side == protocol.SideClient:
					out, m = p.Client([]byte(">"), []byte(k.data), int64(i))
					if string(out) != ">"+k.data {
						t.Fatalf("call %d: out %q", i, out)
					}
					out = nil
				case k.side == protocol.SideOnline:
					out, m = p.Online(nil, []byte(k.data), int64(i))
				default:
					out, m = p.Target(nil, []byte(k.data), int64(i))
				}
				if len(out) != 0 {
					t.Fatalf("call %d: bytes for the target %q", i, out)
				}
				marks += markString(m)
				xs = append(xs, protocoltest.Drain(p)...)
			}
			var got []string
			for _, x := range xs {
				if x.Key != Key || x.ClientBytes != len(x.RequestData) {
					t.Fatalf("exchange %+v", x)
				}
				got = append(got, fmt.Sprintf("%s|%s|%s|%v", x.RequestData, x.OnlineData, x.TargetData, x.Same))
			}
			if marks != c.marks || fmt.Sprint(got) != c.want {
				t.Fatalf("marks %s, exchanges %v; want %s, %s", marks, got, c.marks, c.want)
			}
			if p.Fate() != nil {
				t.Fatalf("fate %v", p.Fate())
			}
		})
	}
}

func markString(m protocol.Mark) string {
	switch {
	case m&protocol.RequestStart != 0 && m&protocol.ResponseComplete != 0:
		return "S" // a start that also completes the previous response
	case m&protocol.RequestStart != 0:
		return "s"
	case m&protocol.ResponseComplete != 0:
		return "c"
	}
	return "-"
}

// FuzzCompare: any streams, the client's bytes unchanged, payloads within
// Keep, never more exchanges than requests, no fate.
func FuzzCompare(f *testing.F) {
	f.Add([]byte("GET a"), []byte("A1x"), []byte("A1y"), uint8(3))
	f.Fuzz(func(t *testing.T, client, online, target []byte, cut uint8) {
		p := protocoltest.Open(t, Compare(protocol.Options{Compare: true, Keep: 16}), protocol.Start{Midstream: cut%5 == 0})
		starts, xs := protocoltest.Streams(t, p, client, online, target, int(cut), 16)
		if len(xs) > starts || p.Fate() != nil {
			t.Fatalf("%d exchanges for %d request starts, fate %v", len(xs), starts, p.Fate())
		}
	})
}

// FuzzCompareSent: a conversation of turns in any order, with the
// engine's Sent for any request at any point: every target byte is in
// one exchange's target payload (Keep is large), never more exchanges
// than requests, Same only for equal responses.
func FuzzCompareSent(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0, 2, 1, 3, 4, 5}, []byte("q1r1r1q2r22"))
	f.Fuzz(func(t *testing.T, ops, data []byte) {
		p := protocoltest.Open(t, Compare(protocol.Options{Compare: true}), protocol.Start{})
		sn := p.(interface{ Sent(int, int64) })
		starts, target, n := 0, 0, 0
		var xs []protocol.Exchange
		for i, op := range ops {
			var piece []byte
			if n < len(data) {
				k := min(len(data)-n, int(op>>3)+1)
				piece, n = data[n:n+k], n+k
			}
			var m protocol.Mark
			switch op % 6 {
			case 0:
				_, m = p.Client(nil, piece, int64(i))
			case 1:
				p.Online(nil, piece, int64(i))
			case 2:
				p.Target(nil, piece, int64(i))
				target += len(piece)
			case 3:
				sn.Sent(int(op>>3), int64(i))
			case 4:
				p.End(nil, protocol.SideOnline, int64(i))
			case 5:
				p.End(nil, protocol.SideTarget, int64(i))
			}
			if m&protocol.RequestStart != 0 {
				starts++
			}
			xs = append(xs, protocoltest.Drain(p)...)
		}
		p.End(nil, protocol.SideOnline, 1<<20)
		p.End(nil, protocol.SideTarget, 1<<20)
		xs = append(xs, protocoltest.Drain(p)...)
		got := 0
		for _, x := range xs {
			got += x.TargetBytes
			if x.Same && string(x.OnlineData) != string(x.TargetData) {
				t.Fatalf("same, but %q vs %q", x.OnlineData, x.TargetData)
			}
		}
		if len(xs) > starts || p.Fate() != nil {
			t.Fatalf("%d exchanges for %d requests, fate %v", len(xs), starts, p.Fate())
		}
		if len(xs) == starts && starts > 0 && got > target {
			t.Fatalf("exchanges carry %d target bytes, %d came", got, target)
		}
	})
}
