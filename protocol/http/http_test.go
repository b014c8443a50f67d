package http

import (
	"strings"
	"testing"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/protocoltest"
)

func open(t testing.TB, o protocol.Options, st protocol.Start) protocol.Protocol {
	t.Helper()
	return protocoltest.Open(t, New(o), st)
}

// feed hands stream to fn in pieces cut at cuts; it returns the output and
// the marks of each piece.
func feed(fn func(out, p []byte, at int64) ([]byte, protocol.Mark), stream string, cuts []int, at int64) ([]byte, []protocol.Mark) {
	var out []byte
	var marks []protocol.Mark
	prev := 0
	for _, c := range append(cuts, len(stream)) {
		var m protocol.Mark
		out, m = fn(out, []byte(stream[prev:c]), at)
		marks = append(marks, m)
		prev = c
	}
	return out, marks
}

func exchanges(p protocol.Protocol) []protocol.Exchange { return protocoltest.Drain(p) }

func count(ms []protocol.Mark, m protocol.Mark) int {
	n := 0
	for _, x := range ms {
		if x&m != 0 {
			n++
		}
	}
	return n
}

const (
	get     = "GET /users/12?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
	head    = "HEAD /doc HTTP/1.1\r\nHost: h\r\n\r\n"
	post    = "POST /orders HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\nX-Sum: 1\r\n\r\n"
	ok5     = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	headOK  = "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n"
	chunked = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
	info    = "HTTP/1.1 100 Continue\r\n\r\n"
	closeR  = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe rest of the stream"
)

// Pipelined requests split anywhere: the bytes go out unchanged, each
// request start is marked in the piece holding its first byte, each
// target response completes once, HEAD's response has no body.
func TestPipeliningAtEverySplit(t *testing.T) {
	client := get + head + post
	target := ok5 + headOK + info + chunked
	starts := []int{0, len(get), len(get + head)}
	ends := []int{len(ok5), len(ok5 + headOK), len(target)}
	for cut := 0; cut <= len(client); cut++ {
		p := open(t, protocol.Options{}, protocol.Start{})
		out, marks := feed(p.Client, client, []int{cut}, 1)
		if string(out) != client {
			t.Fatalf("cut %d: output differs from input", cut)
		}
		want := 0
		for i, piece := range [][2]int{{0, cut}, {cut, len(client)}} {
			has := false
			for _, s := range starts {
				has = has || (s >= piece[0] && s < piece[1])
			}
			if has != (marks[i]&protocol.RequestStart != 0) {
				t.Fatalf("cut %d piece %d: marks %v", cut, i, marks[i])
			}
			if has {
				want++
			}
		}
		tcut := cut % (len(target) + 1)
		_, tm := feed(p.Target, target, []int{tcut}, 2)
		done := 0
		for _, e := range ends {
			if e <= tcut {
				done++
			}
		}
		if (tm[0]&protocol.ResponseComplete != 0) != (done > 0) || tm[1]&protocol.ResponseComplete == 0 && done < 3 {
			t.Fatalf("cut %d: target marks %v", cut, tm)
		}
		xs := exchanges(p)
		if len(xs) != 3 || p.Fate() != nil {
			t.Fatalf("cut %d: %d exchanges, fate %v", cut, len(xs), p.Fate())
		}
		for i, x := range xs {
			if x.Request != i || x.TargetBytes != ends[i]-[]int{0, ends[0], ends[1]}[i] || x.ClientBytes == 0 || x.TargetIn != x.ClientBytes {
				t.Fatalf("cut %d: exchange %d %+v", cut, i, x)
			}
			if x.RequestData != nil || x.Key != "" {
				t.Fatalf("uncompared route keeps payloads: %+v", x)
			}
		}
		if xs[1].Kind != "HEAD" || xs[2].Kind != "POST" {
			t.Fatalf("kinds %q %q", xs[1].Kind, xs[2].Kind)
		}
	}
}

// A compared route hands out each request with both responses, their
// times, the endpoint key, and payloads cut to Keep.
func TestCompareExchanges(t *testing.T) {
	p := open(t, protocol.Options{Compare: true, Keep: 30}, protocol.Start{})
	if p.Needs() != protocol.NeedsClient|protocol.NeedsOnline|protocol.NeedsTarget {
		t.Fatalf("needs %v", p.Needs())
	}
	p.Client(nil, []byte(get), 100)
	p.Client(nil, []byte(post), 150)
	p.Online(nil, []byte(ok5[:10]), 200)
	p.Online(nil, []byte(ok5[10:]), 210)
	if xs := exchanges(p); len(xs) != 0 {
		t.Fatalf("exchange before the target answered: %+v", xs)
	}
	_, m := p.Target(nil, []byte(ok5), 300)
	if m != protocol.ResponseComplete {
		t.Fatalf("target marks %v", m)
	}
	p.Target(nil, []byte(chunked), 400)
	// The online answer to the POST differs in status.
	p.Online(nil, []byte("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"), 250)
	xs := exchanges(p)
	if len(xs) != 2 {
		t.Fatalf("%d exchanges", len(xs))
	}
	a, b := xs[0], xs[1]
	if a.Key != "GET /users/{id}" || a.Kind != "GET" || !a.Same || a.OnlineSent != 100 || a.OnlineFirst != 200 ||
		a.OnlineLast != 210 || a.TargetFirst != 300 || a.TargetLast != 300 {
		t.Fatalf("first %+v", a)
	}
	if string(a.OnlineData) != ok5[:30] || string(a.TargetData) != ok5[:30] || string(a.RequestData) != get[:30] || !a.Truncated {
		t.Fatalf("first payloads %q %q %q truncated %v", a.RequestData, a.OnlineData, a.TargetData, a.Truncated)
	}
	if b.Key != "POST /orders" || b.Same || b.OnlineBytes != len("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n") || b.TargetBytes != len(chunked) || !b.Truncated || len(b.TargetData) != 30 {
		t.Fatalf("second %+v", b)
	}
	if a.ClientBytes != len(get) || b.ClientBytes != len(post) {
		t.Fatalf("client bytes %d %d", a.ClientBytes, b.ClientBytes)
	}
}

// A body delimited by the close completes at End; requests the target
// never answered complete there too, so the session's exchanges are all
// handed out.
func TestEndCompletes(t *testing.T) {
	p := open(t, protocol.Options{}, protocol.Start{})
	p.Client(nil, []byte(get+get), 1)
	if _, m := p.Target(nil, []byte(closeR), 2); m != 0 {
		t.Fatalf("until-close response completed early: %v", m)
	}
	if _, m := p.End(nil, protocol.SideClient, 3); m != 0 {
		t.Fatalf("client end marks %v", m)
	}
	if _, m := p.End(nil, protocol.SideTarget, 3); m != protocol.ResponseComplete {
		t.Fatalf("target end marks %v", m)
	}
	xs := exchanges(p)
	if len(xs) != 2 || xs[0].TargetBytes != len(closeR) || xs[1].TargetBytes != 0 {
		t.Fatalf("%+v", xs)
	}
}

// A client stream that is not HTTP ends the session with http_parse,
// the bytes of that call still going out unchanged, and later ones too.
func TestParseFailure(t *testing.T) {
	for _, tc := range []struct {
		name           string
		client, target string
		side           string
	}{
		{"client", get + "\x16\x03\x01 binary\n", "", "client"},
		{"target", get, "SSH-2.0-x\r\n", "target"},
	} {
		p := open(t, protocol.Options{}, protocol.Start{})
		out, _ := p.Client([]byte("x"), []byte(tc.client), 1)
		if string(out) != "x"+tc.client {
			t.Fatalf("%s: output %q", tc.name, out)
		}
		p.Target(nil, []byte(tc.target), 2)
		f := p.Fate()
		if f == nil || f.Code != FateParse || !strings.HasPrefix(f.Detail, tc.side+":") || !strings.Contains(f.Detail, "offset") {
			t.Fatalf("%s: fate %v", tc.name, f)
		}
		if out, m := p.Client(nil, []byte("more"), 3); string(out) != "more" || m != 0 {
			t.Fatalf("%s: after the fate %q %v", tc.name, out, m)
		}
	}
}

// A session captured mid-stream starts at the first request line; online
// bytes of earlier requests are skipped.
func TestMidstream(t *testing.T) {
	p := open(t, protocol.Options{Compare: true}, protocol.Start{Midstream: true})
	tail := "of an earlier body\r\n"
	out, m := p.Client(nil, []byte(tail), 1)
	if string(out) != tail || m != 0 {
		t.Fatalf("tail: %q %v", out, m)
	}
	p.Online(nil, []byte("ier response\r\n"), 2)
	if _, m := p.Client(nil, []byte(get), 3); m != protocol.RequestStart {
		t.Fatalf("marks %v", m)
	}
	p.Online(nil, []byte(ok5), 4)
	p.Target(nil, []byte(ok5), 5)
	xs := exchanges(p)
	if len(xs) != 1 || xs[0].ClientBytes != len(get) || string(xs[0].OnlineData) != ok5 || p.Fate() != nil {
		t.Fatalf("%+v fate %v", xs, p.Fate())
	}
}

// An upgrade ends framing without a fate; later bytes pass unmarked.
func TestUpgrade(t *testing.T) {
	p := open(t, protocol.Options{}, protocol.Start{})
	p.Client(nil, []byte("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), 1)
	if _, m := p.Target(nil, []byte("HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi"), 2); m != protocol.ResponseComplete {
		t.Fatalf("101 marks %v", m)
	}
	if out, m := p.Client(nil, []byte("\x81\x82ab"), 3); string(out) != "\x81\x82ab" || m != 0 || p.Fate() != nil {
		t.Fatalf("websocket bytes: %q %v %v", out, m, p.Fate())
	}
	if xs := exchanges(p); len(xs) != 1 {
		t.Fatalf("%d exchanges", len(xs))
	}
}

// An uncompared route costs no allocation per request once warm.
func TestNoAllocsPerRequest(t *testing.T) {
	p := open(t, protocol.Options{}, protocol.Start{})
	req, resp := []byte(post), []byte(ok5)
	var out []byte
	var x protocol.Exchange
	n := testing.AllocsPerRun(1000, func() {
		out, _ = p.Client(out[:0], req, 1)
		p.Target(nil, resp, 2)
		for p.Exchange(&x) {
		}
	})
	if n != 0 || p.Fate() != nil {
		t.Fatalf("%v allocations per request (fate %v)", n, p.Fate())
	}
}

func BenchmarkRequest(b *testing.B) {
	for _, o := range []protocol.Options{{}, {Compare: true}} {
		name := "passthrough"
		if o.Compare {
			name = "compare"
		}
		b.Run(name, func(b *testing.B) {
			p := open(b, o, protocol.Start{})
			req, resp := []byte(post), []byte(ok5)
			var out []byte
			var x protocol.Exchange
			b.ReportAllocs()
			b.SetBytes(int64(len(req) + len(resp)))
			for i := 0; i < b.N; i++ {
				out, _ = p.Client(out[:0], req, 1)
				p.Online(nil, resp, 2)
				p.Target(nil, resp, 3)
				for p.Exchange(&x) {
				}
			}
		})
	}
}
