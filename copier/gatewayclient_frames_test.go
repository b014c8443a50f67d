package copier

import (
	"bytes"
	"sync"
	"testing"

	"github.com/replaygw/replaygw/wire"
)

// OnRecords gets each records frame in one call, in order, without the
// lease-refused notes, payloads intact during the call.
func TestGatewayClientOnRecordsPerFrame(t *testing.T) {
	gw := newFakeGateway(t, "tok")
	var mu sync.Mutex
	var calls [][]wire.Record
	g := newTestClient(t, GatewayConfig{Addrs: []string{gw.addr()}, PayloadCap: 8, OnRecords: func(rs []wire.Record) {
		c := make([]wire.Record, len(rs))
		for i, r := range rs {
			c[i] = r
			c[i].Payload = append([]byte(nil), r.Payload...)
		}
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
	}})
	fc := gw.next()
	waitFor(t, "connected", func() bool { return g.Connected() == 1 })

	frames := [][]wire.Record{
		{{Tuple: gwTuple(1), Seq: 1, Flags: wire.FlagSYN | wire.FlagACK}, {Tuple: gwTuple(9), Flags: leaseRefusedNote},
			{Tuple: gwTuple(1), Seq: 2, Flags: wire.FlagACK | wire.FlagPSH, PayloadLen: 3, Payload: []byte("abc")}},
		{{Tuple: gwTuple(2), Seq: 3, Flags: wire.FlagACK}, {Tuple: gwTuple(2), Seq: 4, Flags: wire.FlagFIN | wire.FlagACK}},
	}
	want := [][]wire.Record{{frames[0][0], frames[0][2]}, frames[1]}
	for _, f := range frames {
		b := wire.BeginBatch(nil)
		for i := range f {
			b = wire.AppendRecord(b, &f[i], 8)
		}
		fc.send(wire.TypeRecords, wire.EndBatch(b, len(f)))
	}
	waitFor(t, "two frames", func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) == 2 })
	mu.Lock()
	defer mu.Unlock()
	for i, w := range want {
		if len(calls[i]) != len(w) {
			t.Fatalf("call %d got %d records, want %d", i, len(calls[i]), len(w))
		}
		for j, r := range calls[i] {
			if r.Tuple != w[j].Tuple || r.Seq != w[j].Seq || r.Flags != w[j].Flags || !bytes.Equal(r.Payload, w[j].Payload) {
				t.Errorf("call %d record %d: got %+v, want %+v", i, j, r, w[j])
			}
		}
	}
	if n := g.Stats().RecordsReceived.Load(); n != 5 {
		t.Errorf("RecordsReceived %d, want 5 (notes included)", n)
	}
}
