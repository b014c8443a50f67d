package pairing

import (
	"fmt"
	"testing"

	"github.com/replaygw/replaygw/protocol"
)

const (
	online = protocol.SideOnline
	target = protocol.SideTarget
)

func next(q *Queue, stop bool) (protocol.Exchange, bool) {
	var x protocol.Exchange
	r := q.Next(&x, stop)
	return x, r != nil
}

func TestQueue(t *testing.T) {
	type step func(q *Queue)
	req := func(p string, at int64) step {
		return func(q *Queue) { q.Start(at).Kind = "K"; q.Request([]byte(p)) }
	}
	resp := func(side protocol.Side, p string, at int64, done bool) step {
		return func(q *Queue) {
			q.Response(side, []byte(p), at)
			if done {
				q.Complete(side, len(p))
			}
		}
	}
	cases := []struct {
		name    string
		compare bool
		steps   []step
		want    string // the exchanges Next hands out, then what is left
	}{
		{"uncompared: target only", false,
			[]step{req("ab", 1), resp(target, "xyz", 5, true)},
			"[{0 K 2 3 <nil> <nil> 1 5 5}]"},
		{"compared waits for online", true,
			[]step{req("ab", 1), resp(target, "xyz", 5, true), resp(online, "xy", 3, false)},
			"[]"},
		{"compared with both", true,
			[]step{req("ab", 1), resp(online, "xy", 3, true), resp(target, "xyz", 5, true)},
			"[{0 K 2 3 ab xy 1 5 5}]"},
		{"response before its request", false,
			[]step{resp(target, "early", 2, true), req("q", 3)},
			"[{0 K 1 5 <nil> <nil> 3 2 2}]"},
		{"not before the request starts", false,
			[]step{resp(target, "early", 2, true)},
			"[]"},
		{"kept to the bound", true,
			[]step{req("abcdefgh", 1), resp(online, "0123456789", 2, true), resp(target, "x", 3, true)},
			"[{0 K 8 1 abcd 0123 1 3 3}] truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var q Queue
			q.Init(protocol.Options{Compare: c.compare, Keep: 4})
			for _, s := range c.steps {
				s(&q)
			}
			var got []string
			trunc := ""
			for x, ok := next(&q, false); ok; x, ok = next(&q, false) {
				got = append(got, fmt.Sprintf("{%d %s %d %d %s %s %d %d %d}", x.Request, x.Kind, x.ClientBytes, x.TargetBytes,
					str(x.RequestData), str(x.OnlineData), x.OnlineSent, x.TargetFirst, x.TargetLast))
				if x.Truncated {
					trunc = " truncated"
				}
			}
			if s := fmt.Sprint(got) + trunc; s != c.want {
				t.Fatalf("got %s, want %s", s, c.want)
			}
		})
	}
}

func str(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}

// A compared session hands out exchanges without the online response
// once the online stream lags by more than MaxWaiting, or at stop.
func TestQueueOnlineLag(t *testing.T) {
	var q Queue
	q.Init(protocol.Options{Compare: true})
	q.Start(1)
	q.Response(target, []byte("x"), 2)
	q.Complete(target, 0)
	if _, ok := next(&q, false); ok {
		t.Fatal("handed out before the online response")
	}
	if x, ok := next(&q, true); !ok || x.OnlineBytes != 0 {
		t.Fatalf("stop: %v %+v", ok, x)
	}
	for i := 0; i <= MaxWaiting; i++ {
		q.Start(1)
		q.Response(target, []byte("x"), 2)
		q.Complete(target, 0)
	}
	if _, ok := next(&q, false); !ok {
		t.Fatal("a lagging online stream held the exchanges")
	}
}

// Records are recycled: a steady session allocates nothing per request.
func TestQueueNoAllocation(t *testing.T) {
	var q Queue
	q.Init(protocol.Options{Compare: true, Keep: 16})
	var x protocol.Exchange
	p := []byte("payload")
	round := func() {
		q.Recycle()
		q.Start(1)
		q.Request(p)
		q.Response(online, p, 2)
		q.Complete(online, 0)
		q.Response(target, p, 3)
		q.Complete(target, 0)
		if q.Next(&x, false) == nil {
			t.Fatal("no exchange")
		}
	}
	round()
	round()
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}
