package gateway

import (
	"sync"
	"sync/atomic"

	"github.com/replaygw/replaygw/wire"
)

// maxHeldPerTuple bounds the early records kept for one session (the
// target retransmits its SYN-ACK; a few copies are plenty).
const maxHeldPerTuple = 4

type heldRecord struct {
	rec wire.Record // Payload is owned
	at  int64
}

// earlyHold keeps SYN-ACK/RST records that arrived before their lease, for
// at most holdFor and at most max records in all. The lease's flags are not
// known yet, so a record keeps its whole payload (a SYN-ACK carries one
// only with TCP Fast Open), within maxBytes of held payload in all; the
// lease decides at delivery how much of it is sent. It is off the hot path
// (only unrouted SYN-ACK/RST reach it), so one mutex is enough; count lets
// lease adds skip it while it is empty.
type earlyHold struct {
	mu       sync.Mutex
	m        map[wire.Tuple][]heldRecord
	count    atomic.Int64
	holdFor  int64
	max      int
	maxBytes int
	bytes    int // payload bytes held, under mu
}

// DefaultHoldBytes bounds the payload bytes of the held early records.
const DefaultHoldBytes = 4 << 20

func (h *earlyHold) init(holdFor int64, max, maxBytes int) {
	h.m = make(map[wire.Tuple][]heldRecord)
	h.holdFor, h.max, h.maxBytes = holdFor, max, maxBytes
}

// put copies r into the hold; false when the hold is full or disabled.
func (h *earlyHold) put(r *wire.Record, now int64) bool {
	if h.holdFor <= 0 || h.max <= 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.m[r.Tuple]
	if int(h.count.Load()) >= h.max || len(list) >= maxHeldPerTuple || h.bytes+len(r.Payload) > h.maxBytes {
		return false
	}
	c := *r
	c.Payload = nil
	if len(r.Payload) > 0 {
		c.Payload = append([]byte(nil), r.Payload...)
		h.bytes += len(r.Payload)
	}
	h.m[r.Tuple] = append(list, heldRecord{rec: c, at: now})
	h.count.Add(1)
	return true
}

// take removes and returns the records held for tu.
func (h *earlyHold) take(tu wire.Tuple) []heldRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.m[tu]
	if list != nil {
		delete(h.m, tu)
		h.count.Add(-int64(len(list)))
		for _, r := range list {
			h.bytes -= len(r.rec.Payload)
		}
	}
	return list
}

// expire drops records held longer than holdFor.
func (h *earlyHold) expire(now int64) int {
	if h.count.Load() == 0 {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for tu, list := range h.m {
		keep := list[:0]
		for _, r := range list {
			if now-r.at > h.holdFor {
				n++
				h.bytes -= len(r.rec.Payload)
			} else {
				keep = append(keep, r)
			}
		}
		if len(keep) == 0 {
			delete(h.m, tu)
		} else {
			h.m[tu] = keep
		}
	}
	h.count.Add(-int64(n))
	return n
}
