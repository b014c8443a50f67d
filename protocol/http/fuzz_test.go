package http

import (
	"testing"

	"github.com/replaygw/replaygw/protocol"
)

// FuzzSession: whatever the streams, the client's bytes go out unchanged,
// nothing panics, and no more exchanges come out than requests started.
func FuzzSession(f *testing.F) {
	f.Add([]byte(get+post), []byte(ok5+info+chunked), []byte(ok5), uint8(9), true)
	f.Add([]byte(head+get), []byte(headOK+closeR), []byte("HTTP/1.0 200 OK\r\n\r\nx"), uint8(1), false)
	f.Add([]byte("\x00\x01GET"), []byte("HTTP/1.1 101 S\r\n\r\n"), []byte{}, uint8(0), true)
	f.Fuzz(func(t *testing.T, client, target, online []byte, cut uint8, cmp bool) {
		p := open(t, protocol.Options{Compare: cmp, Keep: 64}, protocol.Start{Midstream: cut%7 == 0})
		k := int(cut) % (len(client) + 1)
		var out []byte
		starts := 0
		for _, piece := range [][]byte{client[:k], client[k:]} {
			var m protocol.Mark
			out, m = p.Client(out, piece, 1)
			if m&protocol.RequestStart != 0 {
				starts++
			}
		}
		if string(out) != string(client) {
			t.Fatalf("client bytes changed")
		}
		p.Online(nil, online, 2)
		p.Target(nil, target[:len(target)/2], 3)
		p.Target(nil, target[len(target)/2:], 4)
		p.End(nil, protocol.SideOnline, 5)
		p.End(nil, protocol.SideTarget, 5)
		n := 0
		var x protocol.Exchange
		for p.Exchange(&x) {
			n++
			if len(x.RequestData) > 64 || len(x.OnlineData) > 64 || len(x.TargetData) > 64 {
				t.Fatalf("payload beyond Keep")
			}
		}
		if starts == 0 && n > 0 && p.Fate() == nil {
			t.Fatalf("%d exchanges without a request start", n)
		}
	})
}
