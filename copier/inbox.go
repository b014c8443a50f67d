package copier

import (
	"sync"

	"github.com/replaygw/replaygw/wire"
)

// An inbox carries captured packets and response records to one worker.
// Producers append under a short lock; the worker takes everything queued
// in one swap and handles it in a round. A producer wakes the worker only
// when it is parked (or about to park), and with Hold a producer that
// knows more packets follow at once (a capture goroutine inside one ring
// block) leaves the wake for its Flush: one scheduler wake-up per burst
// instead of one channel hand-off per packet.
type inbox struct {
	mu     sync.Mutex
	pkts   []pktMsg
	recs   []wire.Record
	parked bool          // the worker found the inbox empty and sleeps
	owed   bool          // a held push found the worker parked: Flush wakes it
	wake   chan struct{} // cap 1
}

func newInbox() *inbox {
	return &inbox{
		pkts: make([]pktMsg, 0, 256),
		recs: make([]wire.Record, 0, 256),
		wake: make(chan struct{}, 1),
	}
}

// pushPacket queues m; false when the inbox is full. With hold the wake of
// a parked worker is left to flush.
func (b *inbox) pushPacket(m *pktMsg, hold bool) bool {
	b.mu.Lock()
	if len(b.pkts) >= queueLen {
		b.mu.Unlock()
		return false
	}
	b.pkts = append(b.pkts, *m)
	wake := b.claimWake(hold)
	b.mu.Unlock()
	if wake {
		b.signal()
	}
	return true
}

// pushRecord queues a copy of r (without payload); false when full.
func (b *inbox) pushRecord(r *wire.Record) bool {
	b.mu.Lock()
	if len(b.recs) >= queueLen {
		b.mu.Unlock()
		return false
	}
	b.recs = append(b.recs, *r)
	b.recs[len(b.recs)-1].Payload = nil
	wake := b.claimWake(false)
	b.mu.Unlock()
	if wake {
		b.signal()
	}
	return true
}

// claimWake decides, under mu, whether this push must wake the worker.
func (b *inbox) claimWake(hold bool) bool {
	if !b.parked {
		return false
	}
	if hold {
		b.owed = true
		return false
	}
	b.parked, b.owed = false, false
	return true
}

// flush wakes the worker if a held push left it parked with work queued.
func (b *inbox) flush() {
	b.mu.Lock()
	wake := b.owed && b.parked
	if wake {
		b.parked, b.owed = false, false
	}
	b.mu.Unlock()
	if wake {
		b.signal()
	}
}

func (b *inbox) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take swaps the queued items with the worker's spare slices (emptied by
// the caller after use). When nothing is queued it marks the worker
// parked and returns false: the next push wakes it.
func (b *inbox) take(pkts *[]pktMsg, recs *[]wire.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pkts) == 0 && len(b.recs) == 0 {
		b.parked = true
		return false
	}
	b.parked, b.owed = false, false
	*pkts, b.pkts = b.pkts, (*pkts)[:0]
	*recs, b.recs = b.recs, (*recs)[:0]
	return true
}

// queued returns how many packets wait (benchmarks).
func (b *inbox) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pkts)
}
