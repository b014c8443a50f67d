package copier

import (
	"sync"

	"github.com/replaygw/replaygw/counter"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
)

// The exchange side of the gateway client: finished exchanges of compared
// routes (Config.OnExchange) are encoded on the engine's worker at once -
// the exchange's slices are only valid during the call - and queued for
// the first connected gateway that compares (announced wire.CapExchange);
// the link's writer sends them as exchange frames after its lease updates.
// The queue is bounded in bytes; a full queue, or no gateway that
// compares, drops the exchange and counts it. Nothing here blocks.

// DefaultExchangeQueue bounds the encoded exchanges waiting for the
// gateway, in bytes.
const DefaultExchangeQueue = 8 << 20

// maxExchangePayload is the payload room of one exchange frame: the three
// payloads together are cut to it.
const maxExchangePayload = wire.MaxFrame - wire.ExchangeOverhead

// keptExchangeBuffers is how many written frame buffers a link keeps, and
// keptExchangeCap the largest kept.
const (
	keptExchangeBuffers = 64
	keptExchangeCap     = 64 << 10
)

// ExchangeFrame flattens one exchange of the engine into the wire form
// (the slices alias x's). hasNoise says the route also replays to a noise
// target. The payloads are cut, and Truncated set, so that the frame fits
// wire.MaxFrame; cut reports it.
func ExchangeFrame(src ExchangeSource, protoName string, hasNoise bool, x *protocol.Exchange) (f wire.Exchange, cut bool) {
	f = wire.Exchange{
		Route: clampU16(src.Route), Copy: clampU16(src.Copy), Conn: src.Conn,
		Client: src.Client, Target: src.Target,
		Protocol: protoName, Request: clampU32(x.Request), Kind: x.Kind, Key: x.Key,
		ClientBytes: clampU32(x.ClientBytes), TargetIn: clampU32(x.TargetIn),
		OnlineBytes: clampU32(x.OnlineBytes), TargetBytes: clampU32(x.TargetBytes),
		OnlineSent: max(x.OnlineSent, 0), OnlineFirst: max(x.OnlineFirst, 0), OnlineLast: max(x.OnlineLast, 0),
		TargetSent: max(x.TargetSent, 0), TargetFirst: max(x.TargetFirst, 0), TargetLast: max(x.TargetLast, 0),
		RequestData: x.RequestData, OnlineData: x.OnlineData, TargetData: x.TargetData,
	}
	if src.Noise {
		f.Flags |= wire.ExchangeNoise
	}
	if hasNoise {
		f.Flags |= wire.ExchangeHasNoise
	}
	if x.Same {
		f.Flags |= wire.ExchangeSame
	}
	if len(f.RequestData)+len(f.OnlineData)+len(f.TargetData) > maxExchangePayload {
		// The responses matter more than the request: each response keeps
		// up to 3/8 of the room, the request the rest.
		side := maxExchangePayload * 3 / 8
		f.OnlineData = f.OnlineData[:min(len(f.OnlineData), side)]
		f.TargetData = f.TargetData[:min(len(f.TargetData), side)]
		rest := maxExchangePayload - len(f.OnlineData) - len(f.TargetData)
		f.RequestData = f.RequestData[:min(len(f.RequestData), rest)]
		cut = true
	}
	if x.Truncated || cut {
		f.Flags |= wire.ExchangeTruncated
	}
	return f, cut
}

func clampU16(v int) uint16 { return uint16(min(max(v, 0), 1<<16-1)) }
func clampU32(v int) uint32 { return uint32(min(max(v, 0), 1<<32-1)) }

// SendExchange queues one finished exchange for the first connected
// gateway that compares. It copies what it needs (x and its slices may be
// reused once it returns), never blocks, and reports false when the
// exchange was dropped: no such gateway, or its queue is full (counted in
// GatewayStats). It fits Config.OnExchange with the route's protocol name.
func (g *GatewayClient) SendExchange(src ExchangeSource, protoName string, x *protocol.Exchange) bool {
	hasNoise := src.Route >= 0 && src.Route < len(g.cfg.NoiseRoutes) && g.cfg.NoiseRoutes[src.Route]
	f, cut := ExchangeFrame(src, protoName, hasNoise, x)
	if cut {
		g.st.ExchangesCut.Add(1)
	}
	for _, l := range g.links {
		if !l.up.Load() {
			continue
		}
		switch l.exch.push(&f) {
		case pushQueued:
			select {
			case l.wake <- struct{}{}:
			default:
			}
			return true
		case pushFull:
			g.st.ExchangesQueueFull.Add(1)
			return false
		}
		// pushOff: this gateway does not compare; try the next.
	}
	g.st.ExchangesNoGateway.Add(1)
	return false
}

// writeExchanges writes the queued exchange frames (buffered; the caller
// flushes).
func (l *gwLink) writeExchanges(c *wire.Conn) error {
	frames := l.exch.take()
	if len(frames) == 0 {
		return nil
	}
	var err error
	n := 0
	for _, b := range frames {
		if err = c.WriteFrame(wire.TypeExchange, b); err != nil {
			break
		}
		n++
	}
	l.g.st.ExchangesSent.Add(uint64(n))
	if err != nil {
		l.g.st.ExchangesNoGateway.Add(uint64(len(frames) - n))
	}
	l.exch.recycle(frames)
	return err
}

type pushResult uint8

const (
	pushQueued pushResult = iota
	pushFull              // the queue has no room
	pushOff               // the connection takes no exchanges
)

// exchangeQueue holds encoded exchange frames for one link, bounded in
// bytes. It is open while the link is up with a gateway that compares.
type exchangeQueue struct {
	mu     sync.Mutex
	on     bool
	max    int
	bytes  int
	frames [][]byte
	spare  [][]byte // the writer's previous list, for reuse
	free   [][]byte // written buffers, for reuse
}

// open starts a connection's queue; on says whether the gateway compares.
func (q *exchangeQueue) open(max int, on bool) {
	q.mu.Lock()
	q.on, q.max, q.bytes, q.frames = on, max, 0, q.frames[:0]
	q.mu.Unlock()
}

// close ends the connection's queue and returns how many frames it
// dropped.
func (q *exchangeQueue) close() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.frames)
	clear(q.frames)
	q.on, q.bytes, q.frames = false, 0, q.frames[:0]
	return n
}

// push encodes f into a buffer of the queue.
func (q *exchangeQueue) push(f *wire.Exchange) pushResult {
	size := wire.ExchangeSize(f)
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.on {
		return pushOff
	}
	if q.bytes+size > q.max {
		return pushFull
	}
	var b []byte
	for i := len(q.free) - 1; i >= 0; i-- {
		if cap(q.free[i]) >= size {
			b = q.free[i][:0]
			q.free[i] = q.free[len(q.free)-1]
			q.free = q.free[:len(q.free)-1]
			break
		}
	}
	if b == nil {
		b = make([]byte, 0, size)
	}
	q.frames = append(q.frames, wire.AppendExchange(b, f))
	q.bytes += size
	return pushQueued
}

// take hands every queued frame to the writer.
func (q *exchangeQueue) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	frames := q.frames
	q.frames, q.spare, q.bytes = q.spare[:0], nil, 0
	return frames
}

// recycle keeps written buffers for reuse.
func (q *exchangeQueue) recycle(frames [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, b := range frames {
		if len(q.free) < keptExchangeBuffers && cap(b) <= keptExchangeCap {
			q.free = append(q.free, b[:0])
		}
	}
	clear(frames)
	q.spare = frames[:0]
}

// exchangeCounters lists the counters of whole-payload leases and of the
// exchange transport.
func (s *GatewayStats) exchangeCounters() []counter.Metric {
	dropped := counter.Of(nil, "gateway_client_exchanges_dropped_total", "exchanges not sent to a gateway, by reason (queue_full: the exchange queue was full; no_gateway: no connected gateway compares, or it was lost with them queued)")
	return []counter.Metric{
		counter.Of(&s.LeasesPayload, "gateway_client_leases_payload_total", "lease adds asking for the whole payload of every record (per gateway)"),
		counter.Of(&s.PayloadRefused, "gateway_client_leases_payload_unsupported_total", "whole-payload lease adds sent to a gateway of an older release, which sends plain records"),
		counter.Of(&s.ExchangesSent, "gateway_client_exchanges_sent_total", "exchanges written to the comparing gateway"),
		dropped.At(&s.ExchangesQueueFull).With("reason", "queue_full"),
		dropped.At(&s.ExchangesNoGateway).With("reason", "no_gateway"),
		counter.Of(&s.ExchangesCut, "gateway_client_exchanges_cut_total", "exchanges whose payloads were cut to fit one frame"),
	}
}
