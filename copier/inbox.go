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
	mu      sync.Mutex
	pkts    []pktMsg
	recs    []wire.Record
	pay     []byte        // the queued records' payloads (routes whose protocol reads the target)
	parked  bool          // the worker found the inbox empty and sleeps
	owed    bool          // a held push found the worker parked: Flush wakes it
	wake    chan struct{} // cap 1
	room    sync.Cond     // on mu: a take made room for waiting producers
	waiters int
	closed  bool
}

func newInbox() *inbox {
	b := &inbox{
		pkts: make([]pktMsg, 0, 256),
		recs: make([]wire.Record, 0, 256),
		wake: make(chan struct{}, 1),
	}
	b.room.L = &b.mu
	return b
}

// pushPacket queues m. A full inbox refuses it (false), or with wait
// blocks the producer until the worker makes room: a capture goroutine
// then leaves packets in the kernel's ring, which holds far more, instead
// of dropping them. waited reports a wait. With hold the wake of a parked
// worker is left to flush.
func (b *inbox) pushPacket(m *pktMsg, hold, wait bool) (ok, waited bool) {
	b.mu.Lock()
	if wait {
		waited = b.waitRoom(func() bool { return len(b.pkts) >= queueLen })
	}
	if len(b.pkts) >= queueLen || b.closed {
		b.mu.Unlock()
		return false, waited
	}
	b.pkts = append(b.pkts, *m)
	wake := b.claimWake(hold)
	b.mu.Unlock()
	if wake {
		b.signal()
	}
	return true, waited
}

// waitRoom waits, under mu, while full reports true and the inbox is
// open, waking a parked worker (held pushes may have filled the inbox
// without waking it); it reports whether it waited.
func (b *inbox) waitRoom(full func() bool) (waited bool) {
	for full() && !b.closed {
		waited = true
		if b.parked {
			b.parked, b.owed = false, false
			b.signal()
		}
		b.waiters++
		b.room.Wait()
		b.waiters--
	}
	return waited
}

// maxQueuedPayload bounds the payload bytes queued for one worker.
const maxQueuedPayload = 16 << 20

// pushRecord queues a copy of r, its payload copied too when it carries
// one (only sessions whose protocol reads the target's responses ask the
// gateway for it). A full inbox blocks the producer (the gateway link's
// reader) until the worker makes room: the records wait in the control
// connection's socket buffers and then in the gateway's queue for this
// copier, which counts what it cannot keep, instead of being dropped
// here. waited reports a wait; false only once the inbox is closed. With
// hold the wake of a parked worker is left to flush.
func (b *inbox) pushRecord(r *wire.Record, hold bool) (ok, waited bool) {
	b.mu.Lock()
	waited = b.waitRoom(func() bool {
		return len(b.recs) >= queueLen || (len(b.pay) > 0 && len(b.pay)+len(r.Payload) > maxQueuedPayload)
	})
	if b.closed {
		b.mu.Unlock()
		return false, waited
	}
	b.recs = append(b.recs, *r)
	q := &b.recs[len(b.recs)-1]
	q.Payload = nil
	if n := len(r.Payload); n > 0 {
		// Earlier records keep pointing into the old array when append
		// grows it: still valid, never written again.
		off := len(b.pay)
		b.pay = append(b.pay, r.Payload...)
		q.Payload = b.pay[off : off+n : off+n]
	}
	wake := b.claimWake(hold)
	b.mu.Unlock()
	if wake {
		b.signal()
	}
	return true, waited
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
func (b *inbox) take(pkts *[]pktMsg, recs *[]wire.Record, pay *[]byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pkts) == 0 && len(b.recs) == 0 {
		b.parked = true
		return false
	}
	b.parked, b.owed = false, false
	*pkts, b.pkts = b.pkts, (*pkts)[:0]
	*recs, b.recs = b.recs, (*recs)[:0]
	*pay, b.pay = b.pay, (*pay)[:0]
	if b.waiters > 0 {
		b.room.Broadcast()
	}
	return true
}

// close refuses every later push and releases waiting producers.
func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	b.room.Broadcast()
	b.mu.Unlock()
}

// queued returns how many packets wait (benchmarks).
func (b *inbox) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pkts)
}
