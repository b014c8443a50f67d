package copier

import "sync"

// pbuf holds one captured packet from the capture goroutine to the
// worker. Segments of several copies may reference it; refs is only
// touched by the owning worker after the hand-over. Buffers come in two
// size classes so that small packets (most requests) keep a small cache
// footprint while they wait for the target's ack.
type pbuf struct {
	b    []byte
	refs int32
	pool *sync.Pool // where it goes back; nil: odd size, left to the GC
}

const (
	pbufSmall = 256
	pbufLarge = 2048
)

var (
	pbufSmallPool = sync.Pool{}
	pbufLargePool = sync.Pool{}
)

func init() {
	pbufSmallPool.New = func() any { return &pbuf{b: make([]byte, 0, pbufSmall), pool: &pbufSmallPool} }
	pbufLargePool.New = func() any { return &pbuf{b: make([]byte, 0, pbufLarge), pool: &pbufLargePool} }
}

// getPbuf returns a buffer holding a copy of pkt with one reference.
func getPbuf(pkt []byte) *pbuf {
	var p *pbuf
	switch {
	case len(pkt) <= pbufSmall:
		p = pbufSmallPool.Get().(*pbuf)
	case len(pkt) <= pbufLarge:
		p = pbufLargePool.Get().(*pbuf)
	default: // super-packets: rare, sized exactly
		p = &pbuf{b: make([]byte, 0, len(pkt))}
	}
	p.b = append(p.b[:0], pkt...)
	p.refs = 1
	return p
}

// ref and unref accept nil: the zero-length FIN or RST segments a
// protocol session appends carry no buffer.
func (p *pbuf) ref() {
	if p != nil {
		p.refs++
	}
}

func (p *pbuf) unref() {
	if p == nil {
		return
	}
	p.refs--
	if p.refs == 0 && p.pool != nil {
		p.pool.Put(p)
	}
}
