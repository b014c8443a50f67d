package lab

import (
	"context"
	"sync/atomic"
	"time"
)

// pacer hands out send times at a fixed rate: the n-th caller of wait may
// go at start + n/rate. Callers that fall behind go at once (no bursts are
// saved up beyond the schedule). A zero rate never waits.
type pacer struct {
	start    time.Time
	interval time.Duration
	n        atomic.Int64
}

func newPacer(rate float64) *pacer {
	p := &pacer{start: time.Now()}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// wait blocks until the caller's slot; it returns ctx's error if ctx ends
// first.
func (p *pacer) wait(ctx context.Context) error {
	if p.interval == 0 {
		return ctx.Err()
	}
	at := p.start.Add(time.Duration(p.n.Add(1)-1) * p.interval)
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
