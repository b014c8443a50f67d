package copier

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/wire"
)

// A worker owns a shard of the sessions (by hash of the captured tuple, so
// every copy of a connection lives on one worker) and everything about
// them: maps, buffers, timer wheel, output buffer. Only its goroutine
// touches them (or, in synchronous mode, the caller holding mu).

// pktMsg carries one captured packet to its worker.
type pktMsg struct {
	p   capPkt
	buf *pbuf // nil for pure ACKs (only the header fields are needed)
}

const (
	tombLinger  = 10 * int64(time.Second) // ended connections absorb stragglers this long
	sweepEvery  = int64(time.Second)
	maxIdleWake = 10 * time.Second // an idle worker still wakes this often (its timers and sweeps wake it when due)
	clockEvery  = 128              // items handled per clock read in a round
)

type worker struct {
	e    *Engine
	id   int
	in   *inbox    // captured packets and response records
	ob   *outBatch // nil: send each packet at once (synchronous mode, plain Senders)
	quit chan struct{}
	mu   sync.Mutex // synchronous mode only

	wheel     *wheel
	fire      func(*session, int64)
	groups    map[wire.Tuple]*group   // live connections, by captured tuple
	sessions  map[wire.Tuple]*session // by rewritten tuple
	tombs     map[tupleKey]tomb       // ended connections (tomb.go)
	tombsPeak int                     // most tombs since the map was made
	nextSweep int64
	// live counts the sessions not ended; table bounds them at
	// maxSessions (shed.go).
	live        int
	maxSessions int
	table       sessionTable

	emitted uint64 // packets built by emit (to tell whether a call sent any)

	out      [outBufSize]byte
	protoOut []byte            // the protocol's output, reused
	exch     protocol.Exchange // the exchange being handed on, reused
	nextConn uint64            // captured connections started, for group ids
	opt      [40]byte

	pkts []pktMsg      // the round being handled (swapped with the inbox's)
	recs []wire.Record // idem
	pay  []byte        // idem: the records' payloads
}

func newWorker(e *Engine, id int, now int64) *worker {
	w := &worker{
		e:        e,
		id:       id,
		quit:     make(chan struct{}),
		wheel:    newWheel(now),
		groups:   make(map[wire.Tuple]*group),
		sessions: make(map[wire.Tuple]*session),
		tombs:    make(map[tupleKey]tomb),
		// The bound is shared evenly: connections are spread by hash.
		maxSessions: max(e.cfg.MaxSessions/e.cfg.Workers, 1),
	}
	if !e.cfg.Synchronous {
		w.in = newInbox()
		if bs, ok := e.snd.(BatchSender); ok {
			w.ob = newOutBatch(bs)
		}
	}
	w.fire = w.onTimer
	return w
}

func (w *worker) run() {
	defer w.e.wg.Done()
	// One timer, armed for the next deadline on the wheel (or the next
	// sweep of ended connections), not a fixed tick: an idle worker
	// sleeps instead of waking a thousand times a second. A busy worker
	// handles everything queued in rounds, sends each round's packets in
	// one batch, and only parks when its inbox is empty.
	t := time.NewTimer(maxIdleWake)
	defer t.Stop()
	armed := w.e.now() + int64(maxIdleWake)
	for {
		var now int64
		if w.in.take(&w.pkts, &w.recs, &w.pay) {
			now = w.round()
			if w.wakeAt(now) <= now {
				w.advance(now)
				armed = noWake
			}
			w.flushOut()
		} else {
			select {
			case <-w.in.wake:
				continue
			case <-t.C:
				now = w.e.now()
				w.e.stats.TimerWakeups.Add(1)
				w.advance(now)
				w.flushOut()
				armed = noWake
			case <-w.quit:
				w.closeAll(w.e.now())
				return
			}
		}
		// Re-arm for an earlier deadline, or for a later one when the
		// deadline the timer was armed for went away.
		w.wheel.refresh()
		if at := w.wakeAt(now); at < armed || at > armed+wheelTick {
			t.Reset(time.Duration(max(at-now, 0)))
			armed = at
		}
	}
}

// wakeAt is when the worker must next run its timers: the wheel's
// earliest deadline, the next sweep while ended connections wait for it,
// and at the latest maxIdleWake from now.
func (w *worker) wakeAt(now int64) int64 {
	at := min(w.wheel.next, now+int64(maxIdleWake))
	if len(w.tombs) > 0 {
		at = min(at, max(w.nextSweep, now+wheelTick))
	}
	return at
}

// round handles one swap of the inbox, reading the clock once per
// clockEvery items, and returns the last reading.
func (w *worker) round() int64 {
	now := w.e.now()
	for i := range w.pkts {
		if i > 0 && i%clockEvery == 0 {
			now = w.e.now()
		}
		w.onPacket(&w.pkts[i], now)
	}
	for i := range w.recs {
		if i > 0 && i%clockEvery == 0 {
			now = w.e.now()
		}
		w.handleRecord(&w.recs[i], now)
	}
	clear(w.pkts)
	w.pkts = w.pkts[:0]
	w.recs = w.recs[:0]
	w.pay = w.pay[:0]
	return now
}

// flushOut sends the packets built in this round.
func (w *worker) flushOut() {
	if w.ob != nil {
		w.ob.flush(&w.e.stats)
	}
}

func (w *worker) onPacket(m *pktMsg, now int64) {
	if m.p.online {
		w.handleOnline(&m.p, m.buf, now)
	} else {
		w.handlePacket(&m.p, m.buf, now)
	}
	if m.buf != nil {
		m.buf.unref()
	}
}

// advance runs due timers and, once a second, forgets ended connections.
func (w *worker) advance(now int64) {
	w.wheel.advance(now, w.fire)
	if now < w.nextSweep {
		return
	}
	w.nextSweep = now + sweepEvery
	w.sweepTombs(now)
}

// closeAll aborts every live session (engine shutdown).
func (w *worker) closeAll(now int64) {
	for _, s := range w.sessions {
		w.abort(s, FateClosed, now)
	}
	for _, g := range w.groups { // sessions between two connections (reopen.go)
		for _, s := range g.copies {
			if !s.ended {
				w.abort(s, FateClosed, now)
			}
		}
	}
	w.flushOut()
	if w.in != nil && w.in.take(&w.pkts, &w.recs, &w.pay) {
		for i := range w.pkts {
			if b := w.pkts[i].buf; b != nil {
				b.unref()
			}
		}
		clear(w.pkts)
		w.pkts = w.pkts[:0]
		w.recs = w.recs[:0]
	}
}

// recordFate counts a session that never started (or just ended) and
// reports it.
func (w *worker) recordFate(sum *SessionSummary) {
	w.e.stats.Fates[sum.Fate].Add(1)
	if log := w.e.log; log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("session end", "fate", sum.Fate.String(), "tuple", sum.Tuple.String(),
			"original", sum.Original.String(), "copy", sum.Copy, "requests", sum.Requests,
			"bytes", sum.Bytes, "duration", sum.End.Sub(sum.Start))
	}
	if f := w.e.cfg.OnSessionEnd; f != nil {
		f(*sum)
	}
}
