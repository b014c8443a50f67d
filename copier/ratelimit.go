package copier

import "sync"

// tokenBucket limits new sessions per second. It is shared by the workers
// but only consulted when a session starts, never per packet.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second; <= 0 means unlimited
	burst  float64
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

func newTokenBucket(perSecond int) *tokenBucket {
	return &tokenBucket{rate: float64(perSecond), burst: float64(perSecond), tokens: float64(perSecond), last: -1}
}

// allow takes one token at time now (unix nanoseconds) if there is one.
func (b *tokenBucket) allow(now int64) bool {
	if b.rate <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last >= 0 && now > b.last {
		b.tokens += float64(now-b.last) * b.rate / 1e9
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	if b.last < 0 || now > b.last {
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
