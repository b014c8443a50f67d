package http

import (
	"testing"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/protocoltest"
)

// FuzzSession: whatever the streams, the client's bytes go out unchanged,
// nothing panics, and no more exchanges come out than requests started.
func FuzzSession(f *testing.F) {
	f.Add([]byte(get+post), []byte(ok5+info+chunked), []byte(ok5), uint8(9), true)
	f.Add([]byte(head+get), []byte(headOK+closeR), []byte("HTTP/1.0 200 OK\r\n\r\nx"), uint8(1), false)
	f.Add([]byte("\x00\x01GET"), []byte("HTTP/1.1 101 S\r\n\r\n"), []byte{}, uint8(0), true)
	f.Fuzz(func(t *testing.T, client, target, online []byte, cut uint8, cmp bool) {
		p := open(t, protocol.Options{Compare: cmp, Keep: 64}, protocol.Start{Midstream: cut%7 == 0})
		starts, xs := protocoltest.Streams(t, p, client, online, target, int(cut), 64)
		if starts == 0 && len(xs) > 0 && p.Fate() == nil {
			t.Fatalf("%d exchanges without a request start", len(xs))
		}
	})
}
