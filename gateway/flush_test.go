package gateway_test

import (
	"testing"
	"time"

	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/gateway"
	"github.com/replaygw/replaygw/wire"
)

// Records wait up to ServerConfig.RecordFlush to share a frame: a burst
// arrives complete and in order in few frames, and a lone record is still
// sent when the delay runs out.
func TestServerRecordFlush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flush time.Duration
		burst int
	}{
		{"lone record, default delay", 0, 1},
		{"lone record, long delay", 200 * time.Millisecond, 1},
		{"burst, hour delay: sent by size", time.Hour, 4 * wire.MaxBatch},
		{"burst, default delay", 0, 3000},
		{"burst, no delay", -1, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startServer(t, gateway.ServerConfig{RecordFlush: tc.flush, CopierQueue: 1 << 16})
			got := &sink{}
			g := newClient(t, addr, copier.GatewayConfig{OnRecord: got.on})
			g.AddLease(tuple(1), time.Minute, 0)
			waitFor(t, "lease", func() bool { return s.Leases() == 1 })

			for i := range tc.burst {
				s.Deliver(&wire.Record{Tuple: tuple(1), Seq: uint32(i), Flags: wire.FlagACK})
			}
			want := tc.burst
			if tc.flush == time.Hour {
				want = wire.MaxBatch // the frames' worth sent by size; the tail waits the hour
			}
			start := time.Now()
			waitFor(t, "the records", func() bool { return len(got.get()) >= want })
			if tc.burst == 1 && tc.flush <= time.Second {
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("a lone record took %v", d)
				}
			}
			recs := got.get()
			for i := range want {
				if recs[i].Seq != uint32(i) {
					t.Fatalf("record %d has seq %d: out of order or lost", i, recs[i].Seq)
				}
			}
			st := s.Stats()
			waitFor(t, "sent counted", func() bool { return st.RecordsSent.Load() >= uint64(want) })
			if drops := st.DroppedQueue.Load() + st.DroppedGone.Load(); drops != 0 {
				t.Errorf("%d records dropped", drops)
			}
			if frames := st.FramesSent.Load(); tc.flush >= 0 && want > 1 && frames > uint64(want)/8 {
				t.Errorf("%d records took %d frames: not batched", want, frames)
			}
		})
	}
}
