package role

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestDrainSessions(t *testing.T) {
	tests := []struct {
		name string
		// events at offsets after the drain starts: sessions appear late
		// (workers still busy with their queues), then end.
		startAt, endAt time.Duration
		max            time.Duration
		minWait        time.Duration // drain must not return earlier
		maxWait        time.Duration // nor later
	}{
		{"idle engine returns after the quiet period", -1, -1, time.Second, 50 * time.Millisecond, 400 * time.Millisecond},
		{"late sessions are waited for", 30 * time.Millisecond, 300 * time.Millisecond, 2 * time.Second, 350 * time.Millisecond, time.Second},
		{"open sessions bounded by max", 0, 10 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var open atomic.Int64
			var activity atomic.Uint64
			if tc.startAt >= 0 {
				time.AfterFunc(tc.startAt, func() { open.Store(3); activity.Add(3) })
			}
			if tc.endAt >= 0 {
				tm := time.AfterFunc(tc.endAt, func() { open.Store(0); activity.Add(3) })
				defer tm.Stop()
			}
			start := time.Now()
			drainSessions(context.Background(), func() int { return int(open.Load()) }, activity.Load, tc.max, 50*time.Millisecond)
			took := time.Since(start)
			if took < tc.minWait || took > tc.maxWait {
				t.Errorf("drain took %v, want %v..%v", took, tc.minWait, tc.maxWait)
			}
		})
	}
}
