package main

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

// fullQueue drops the first n offers, like an engine whose worker queue
// is full.
type fullQueue struct {
	n, offers int
	drops     atomic.Uint64
	got       [][]byte
}

func (q *fullQueue) handle(pkt []byte, _ time.Time) {
	q.offers++
	if q.offers <= q.n {
		q.drops.Add(1)
		return
	}
	q.got = append(q.got, pkt)
}

func TestBackpressure(t *testing.T) {
	for _, n := range []int{0, 1, 5} {
		q := &fullQueue{n: n}
		h := backpressure(context.Background(), q.handle, &q.drops)
		h([]byte{1}, time.Time{})
		h([]byte{2}, time.Time{})
		if len(q.got) != 2 || q.got[0][0] != 1 || q.got[1][0] != 2 {
			t.Errorf("%d drops: delivered %v, want both packets in order", n, q.got)
		}
		if q.offers != n+2 {
			t.Errorf("%d drops: %d offers, want %d", n, q.offers, n+2)
		}
	}
	// A canceled replay stops retrying.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q := &fullQueue{n: 1 << 30}
	done := make(chan struct{})
	go func() { backpressure(ctx, q.handle, &q.drops)([]byte{1}, time.Time{}); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("backpressure kept retrying after the context ended")
	}
}
