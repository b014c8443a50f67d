package redis

import (
	"fmt"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/protocoltest"
)

func open(t testing.TB, o protocol.Options, st protocol.Start) protocol.Protocol {
	t.Helper()
	return protocoltest.Open(t, New(o), st)
}
func exchanges(p protocol.Protocol) []protocol.Exchange { return protocoltest.Drain(p) }

const (
	getK   = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
	setK   = "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$2\r\nv1\r\n"
	ping   = "PING\r\n"
	hgetal = "*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n"
	sub    = "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"
	blob   = "$2\r\nv1\r\n"
	ok     = "+OK\r\n"
	pong   = "+PONG\r\n"
	mapR   = "%1\r\n+f\r\n$?\r\n;2\r\nab\r\n;0\r\n" // RESP3 map with a streamed string
	push   = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
)

// Pipelined commands split anywhere: the bytes go out unchanged, each
// command's start is marked in the piece holding its first byte, each
// target reply completes once, in order, with the command's kind.
func TestPipeliningAtEverySplit(t *testing.T) {
	client := getK + setK + ping + hgetal
	target := blob + ok + pong + mapR
	starts := []int{0, len(getK), len(getK + setK), len(getK + setK + ping)}
	sizes := []int{len(blob), len(ok), len(pong), len(mapR)}
	kinds := []string{"GET", "SET", "PING", "HGETALL"}
	for i := 0; i <= 2*len(client)+1; i++ {
		// Uncompared, then compared (each command's start reported).
		cut, compared := i, i > len(client)
		if compared {
			cut -= len(client) + 1
		}
		p := open(t, protocol.Options{Compare: compared}, protocol.Start{})
		var out []byte
		for i, piece := range [][2]int{{0, cut}, {cut, len(client)}} {
			var m protocol.Mark
			out, m = p.Client(out, []byte(client[piece[0]:piece[1]]), 1)
			has := false
			for _, s := range starts {
				has = has || (s >= piece[0] && s < piece[1])
			}
			if has != (m&protocol.RequestStart != 0) {
				t.Fatalf("cut %d piece %d: marks %v", cut, i, m)
			}
			var want []int // each command's start within the piece; uncompared: the piece at 0
			for _, s := range starts {
				switch {
				case s < piece[0] || s >= piece[1]:
				case compared:
					want = append(want, s-piece[0])
				case len(want) == 0:
					want = append(want, 0)
				}
			}
			if got := p.(interface{ RequestOffsets() []int }).RequestOffsets(); fmt.Sprint(got) != fmt.Sprint(want) && len(got)+len(want) > 0 {
				t.Fatalf("cut %d piece %d: request offsets %v, want %v", cut, i, got, want)
			}
		}
		if string(out) != client {
			t.Fatalf("cut %d: output differs from input", cut)
		}
		if compared {
			p.Online(nil, []byte(target), 2) // production answered alike
		}
		tcut := cut % (len(target) + 1)
		_, m1 := p.Target(nil, []byte(target[:tcut]), 2)
		_, m2 := p.Target(nil, []byte(target[tcut:]), 3)
		if (m1&protocol.ResponseComplete != 0) != (tcut >= len(blob)) || (m2&protocol.ResponseComplete != 0) != (tcut < len(target)) {
			t.Fatalf("cut %d: target marks %v %v", cut, m1, m2)
		}
		xs := exchanges(p)
		if len(xs) != 4 || p.Fate() != nil {
			t.Fatalf("cut %d: %d exchanges, fate %v", cut, len(xs), p.Fate())
		}
		for i, x := range xs {
			if x.Request != i || x.Kind != kinds[i] || x.TargetBytes != sizes[i] || x.ClientBytes == 0 || x.TargetIn != x.ClientBytes {
				t.Fatalf("cut %d: exchange %d %+v", cut, i, x)
			}
			if !compared && (x.RequestData != nil || x.Key != "") {
				t.Fatalf("uncompared route keeps payloads: %+v", x)
			}
		}
	}
}

// A compared route hands out each command with both replies, their
// times, the key, payloads cut to Keep; online pushes belong to no command.
func TestCompareExchanges(t *testing.T) {
	p := open(t, protocol.Options{Compare: true, Keep: 12}, protocol.Start{})
	if p.Needs() != protocol.NeedsClient|protocol.NeedsOnline|protocol.NeedsTarget {
		t.Fatalf("needs %v", p.Needs())
	}
	p.Client(nil, []byte(getK+ping), 100)
	p.Client(nil, []byte("*1\r\n$8\r\nFOO.BAR1\r\n"), 110)
	p.Online(nil, []byte(push+blob[:3]), 200)
	p.Online(nil, []byte(blob[3:]+push), 210)
	if xs := exchanges(p); len(xs) != 0 {
		t.Fatalf("exchange before the target answered: %+v", xs)
	}
	if _, m := p.Target(nil, []byte(blob), 300); m != protocol.ResponseComplete {
		t.Fatalf("target marks %v", m)
	}
	p.Online(nil, []byte(pong+"-ERR unknown\r\n"), 220)
	p.Target(nil, []byte("-ERR wrong\r\n"+"-ERR unknown\r\n"), 400)
	xs := exchanges(p)
	if len(xs) != 3 {
		t.Fatalf("%d exchanges", len(xs))
	}
	a, b, c := xs[0], xs[1], xs[2]
	if a.Key != "GET" || a.Kind != "GET" || !a.Same || a.OnlineSent != 100 || a.OnlineFirst != 200 || a.OnlineLast != 210 ||
		a.TargetFirst != 300 || a.TargetLast != 300 || a.OnlineBytes != len(blob) || a.TargetBytes != len(blob) {
		t.Fatalf("first %+v", a)
	}
	if string(a.OnlineData) != blob || string(a.TargetData) != blob || string(a.RequestData) != getK[:12] || !a.Truncated {
		t.Fatalf("first payloads %q %q %q truncated %v", a.RequestData, a.OnlineData, a.TargetData, a.Truncated)
	}
	if b.Key != "PING" || b.Same || string(b.OnlineData) != pong || string(b.TargetData) != "-ERR wrong\r\n" {
		t.Fatalf("second %+v", b)
	}
	if c.Key != "FOO.BAR1" || c.Kind != "FOO.BAR1" || !c.Same || c.OnlineSent != 110 {
		t.Fatalf("third %+v", c)
	}
}

// Replies a stream never gave complete when it ends, and so do their
// exchanges.
func TestEndCompletes(t *testing.T) {
	p := open(t, protocol.Options{Compare: true}, protocol.Start{})
	p.Client(nil, []byte(getK+getK+getK), 1)
	p.Target(nil, []byte(blob+"$5\r\nab"), 2)
	p.Online(nil, []byte(blob), 2)
	if _, m := p.End(nil, protocol.SideClient, 3); m != 0 {
		t.Fatalf("client end marks %v", m)
	}
	if _, m := p.End(nil, protocol.SideTarget, 3); m != protocol.ResponseComplete {
		t.Fatalf("target end marks %v", m)
	}
	if xs := exchanges(p); len(xs) != 1 {
		t.Fatalf("%d exchanges before the online end", len(xs))
	}
	p.End(nil, protocol.SideOnline, 4)
	xs := exchanges(p)
	if len(xs) != 2 || xs[0].TargetBytes != 6 || xs[0].Same || xs[1].TargetBytes != 0 || xs[1].OnlineBytes != 0 {
		t.Fatalf("%+v", xs)
	}
}

// A stream that is not RESP ends the session with redis_parse, the bytes
// of that call still going out unchanged, and later ones too.
func TestParseFailure(t *testing.T) {
	for _, tc := range []struct {
		name, client, target, online, side string
	}{
		{"client", getK + "*x\r\n", "", "", "client"},
		{"target", getK, "?what\r\n", "", "target"},
		{"online", getK, "", "+OK\n", "online"},
	} {
		p := open(t, protocol.Options{Compare: true}, protocol.Start{})
		out, _ := p.Client([]byte("x"), []byte(tc.client), 1)
		if string(out) != "x"+tc.client {
			t.Fatalf("%s: output %q", tc.name, out)
		}
		p.Target(nil, []byte(tc.target), 2)
		p.Online(nil, []byte(tc.online), 2)
		f := p.Fate()
		if f == nil || f.Code != FateParse || !strings.HasPrefix(f.Detail, tc.side+":") || !strings.Contains(f.Detail, "offset") {
			t.Fatalf("%s: fate %v", tc.name, f)
		}
		if out, _ := p.Client(nil, []byte(getK), 3); string(out) != getK {
			t.Fatalf("%s: after the fate: %q", tc.name, out)
		}
	}
}

// After SUBSCRIBE the replies are messages, not answers: framing ends
// once SUBSCRIBE has its reply; the session goes on without marks.
func TestSubscribeStopsFraming(t *testing.T) {
	p := open(t, protocol.Options{}, protocol.Start{})
	if _, m := p.Client(nil, []byte(getK+sub), 1); m != protocol.RequestStart {
		t.Fatalf("marks %v", m)
	}
	if out, m := p.Client(nil, []byte(ping), 2); m != 0 || string(out) != ping {
		t.Fatalf("after SUBSCRIBE: marks %v out %q", m, out)
	}
	confirm := "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
	if _, m := p.Target(nil, []byte(blob+confirm+"*3\r\n$7\r\nmessage\r\n"), 3); m != protocol.ResponseComplete {
		t.Fatalf("target marks %v", m)
	}
	if _, m := p.Target(nil, []byte("garbage that is no RESP\n"), 4); m != 0 || p.Fate() != nil {
		t.Fatalf("after the stop: marks %v fate %v", m, p.Fate())
	}
	xs := exchanges(p)
	if len(xs) != 2 || xs[1].Kind != "SUBSCRIBE" || xs[1].TargetBytes != len(confirm) {
		t.Fatalf("%+v", xs)
	}
}

// A capture that began inside the session resyncs at the first command;
// online replies before it answer older commands; an online stream that
// cannot be framed then stops being compared, the replay goes on.
func TestMidstream(t *testing.T) {
	p := open(t, protocol.Options{Compare: true}, protocol.Start{Midstream: true})
	p.Online(nil, []byte("+old reply\r\n"), 1)
	if out, m := p.Client(nil, []byte("lue\r\n"+getK), 2); m != protocol.RequestStart || string(out) != "lue\r\n"+getK {
		t.Fatalf("resync: marks %v", m)
	}
	p.Target(nil, []byte(blob), 3)
	p.Online(nil, []byte(blob), 3)
	xs := exchanges(p)
	if len(xs) != 1 || xs[0].Request != 0 || !xs[0].Same || string(xs[0].RequestData) != getK {
		t.Fatalf("%+v", xs)
	}
	p.Client(nil, []byte(getK), 4)
	p.Online(nil, []byte("+x\n"), 5)
	p.Target(nil, []byte(blob), 5)
	xs = exchanges(p)
	if p.Fate() != nil || len(xs) != 1 || xs[0].Same {
		t.Fatalf("fate %v, %+v", p.Fate(), xs)
	}
}

// An uncompared session allocates nothing per command once warm.
func TestNoAllocation(t *testing.T) {
	p := open(t, protocol.Options{}, protocol.Start{})
	out := make([]byte, 0, 256)
	var x protocol.Exchange
	cmd, reply := []byte(setK), []byte(ok)
	round := func() {
		out, _ = p.Client(out[:0], cmd, 1)
		p.Target(nil, reply, 2)
		for p.Exchange(&x) {
		}
	}
	round()
	round()
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Fatalf("%v allocations per command", n)
	}
}

func TestKind(t *testing.T) {
	cases := []struct {
		name     string
		compared bool
		kind     string
		stop     bool
	}{
		{"get", false, "GET", false},
		{"HgetAll", false, "HGETALL", false},
		{"psubscribe", false, "PSUBSCRIBE", true},
		{"MONITOR", true, "MONITOR", true},
		{"json.get", false, Other, false},
		{"json.get", true, "JSON.GET", false},
		{"bad name!", true, Other, false},
		{"", true, Other, false},
		{strings.Repeat("A", 33), true, Other, false},
	}
	for _, c := range cases {
		k, stop := kind([]byte(c.name), c.compared)
		if k != c.kind || stop != c.stop {
			t.Errorf("kind(%q, %v) = %q %v, want %q %v", c.name, c.compared, k, stop, c.kind, c.stop)
		}
	}
}
