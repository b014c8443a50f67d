package redis

import (
	"testing"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/protocoltest"
)

// FuzzSession: whatever the streams, the client's bytes go out unchanged,
// nothing panics, payloads stay within Keep, and no more exchanges come
// out than commands started.
func FuzzSession(f *testing.F) {
	f.Add([]byte(getK+setK+ping), []byte(blob+ok+pong), []byte(push+blob+ok), uint8(9), true)
	f.Add([]byte(sub+getK), []byte(mapR+push), []byte("-ERR x\r\n"), uint8(7), false)
	f.Add([]byte("\x00\x01*"), []byte("*?\r\n:1\r\n.\r\n"), []byte{}, uint8(0), true)
	f.Fuzz(func(t *testing.T, client, target, online []byte, cut uint8, cmp bool) {
		p := open(t, protocol.Options{Compare: cmp, Keep: 64}, protocol.Start{Midstream: cut%7 == 0})
		starts, xs := protocoltest.Streams(t, p, client, online, target, int(cut), 64)
		if starts == 0 && len(xs) > 0 && p.Fate() == nil {
			t.Fatalf("%d exchanges without a command start", len(xs))
		}
	})
}
