package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/replaygw/replaygw/wire"
)

// errStalled marks a copier that stopped reading its records.
var errStalled = errors.New("copier stopped reading (write timed out)")

// keptBuffers is how many emptied batch buffers a peer keeps for reuse.
const keptBuffers = 8

// flushBytes is the size of queued records that is sent at once instead of
// waiting out the flush delay.
const flushBytes = 32 << 10

// peer is one authenticated copier connection. Deliver (on TUN reader
// goroutines) appends encoded records to the batch being filled; the writer
// goroutine takes whole batches and writes them as record frames. Records
// wait up to the flush delay (ServerConfig.RecordFlush) for company: the
// first record of an empty queue arms a timer, and the writer sends when it
// fires or when flushBytes are queued, so a burst of records becomes one
// write (one wake-up of the copier's reader) instead of one each. The
// connection's reader goroutine (Server.serveConn) handles lease frames.
type peer struct {
	srv        *Server
	conn       *wire.Conn
	log        *slog.Logger
	instance   [16]byte // the copier process (its connections share leases)
	payloadCap int
	leaseFlags bool   // lease-add entries carry a flags byte (both announced CapLeaseFlags)
	implicit   bool   // the copier leases only what needs flags while it has the whole pool (both announced CapImplicitLeases)
	seq        uint64 // order of authentication: the newest connection of an instance gets its implicit records
	maxQueued  int
	flushDelay time.Duration // most a record waits for a fuller frame; 0: none

	// Control news for the writer, guarded by mu: lease adds refused
	// because another copier holds the tuple, and a changed pool share.
	refused    []wire.Tuple
	share      wire.Share
	shareDirty bool

	mu     sync.Mutex
	cur    []byte   // batch body being filled (nil: none)
	curN   int      // records in cur
	full   [][]byte // sealed batch bodies, count filled in
	spare  [][]byte // the writer's previous batch list, for reuse
	free   [][]byte // emptied buffers
	queued int      // records in cur and full
	gone   bool

	flush   *time.Timer          // armed by the first record of an empty queue (flushDelay > 0)
	wake    chan struct{}        // cap 1: records (a frame's worth with flushDelay) or news are waiting
	pong    chan struct{}        // cap 1: answer a ping
	fail    chan *wire.PeerError // cap 1: send this error frame and close
	done    chan struct{}        // closed when the reader has finished
	wrDone  chan struct{}        // closed when the writer has returned
	wrErr   error                // why the writer stopped; read after wrDone
	stopped sync.Once
}

func newPeer(s *Server, c *wire.Conn, instance [16]byte, payloadCap int, log *slog.Logger) *peer {
	p := &peer{
		srv: s, conn: c, log: log, instance: instance, payloadCap: payloadCap, maxQueued: s.cfg.CopierQueue,
		flushDelay: max(s.cfg.RecordFlush, 0),
		wake:       make(chan struct{}, 1), pong: make(chan struct{}, 1), fail: make(chan *wire.PeerError, 1),
		done: make(chan struct{}), wrDone: make(chan struct{}),
	}
	if p.flushDelay > 0 {
		p.flush = time.NewTimer(time.Hour)
		p.flush.Stop()
	}
	return p
}

// enqueue appends r to the copier's queue without blocking. A lease with
// LeasePayload gets the record's whole payload, any other the connection's
// payload cap. It reports whether the record was queued; drops are
// counted.
func (p *peer) enqueue(r *wire.Record, f wire.LeaseFlags) bool {
	st := &p.srv.st
	keep := p.payloadCap
	if f&wire.LeasePayload != 0 {
		keep = wire.MaxRecordPayload
		if cut := int(r.PayloadLen) - len(r.Payload); cut > 0 {
			// The netstack handed over less than the segment (its payload
			// cap): the copier's protocol sees a hole.
			st.PayloadCut.Add(1)
			st.PayloadCutBytes.Add(uint64(cut))
		}
	}
	size := wire.RecordFixedSize + min(len(r.Payload), keep)
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		st.DroppedGone.Add(1)
		return false
	}
	if p.queued >= p.maxQueued {
		p.mu.Unlock()
		st.DroppedQueue.Add(1)
		return false
	}
	if p.cur != nil && (p.curN == wire.MaxBatch || len(p.cur)+size > wire.MaxFrame) {
		p.seal()
	}
	if p.cur == nil {
		p.cur = wire.BeginBatch(p.buffer())
	}
	before := len(p.cur)
	p.cur = wire.AppendRecord(p.cur, r, keep)
	p.curN++
	p.queued++
	kick := p.queued == 1
	if p.flush != nil {
		if kick {
			p.flush.Reset(p.flushDelay) // under mu: takeAll stops it
		}
		// Send at once when a frame's worth is queued.
		kick = len(p.full) > 0 || before < flushBytes && len(p.cur) >= flushBytes
	}
	p.mu.Unlock()
	st.RecordsRouted.Add(1)
	if kick {
		p.kick()
	}
	return true
}

// decodeLeaseAdd reads one lease-add entry in the encoding negotiated on
// this connection.
func (p *peer) decodeLeaseAdd(e []byte) (wire.Tuple, time.Duration, wire.LeaseFlags, int, error) {
	if p.leaseFlags {
		return wire.DecodeLeaseAddFlags(e)
	}
	tu, ttl, n, err := wire.DecodeLeaseAdd(e)
	return tu, ttl, 0, n, err
}

// maxRefused bounds the refusals waiting for the writer; beyond it the
// copier's session ends by its SYN timeout instead (the refusal is still
// counted).
const maxRefused = wire.MaxBatch

// leaseRefused tells the copier that tu is another copier's: it ends the
// session it meant to run on tu.
func (p *peer) leaseRefused(tu wire.Tuple) {
	p.mu.Lock()
	if p.gone || len(p.refused) >= maxRefused {
		p.mu.Unlock()
		return
	}
	p.refused = append(p.refused, tu)
	p.mu.Unlock()
	p.kick()
}

// setShare tells the copier its new pool share.
func (p *peer) setShare(sh wire.Share) {
	p.mu.Lock()
	if p.share == sh {
		p.mu.Unlock()
		return
	}
	p.share, p.shareDirty = sh, true
	p.mu.Unlock()
	p.kick()
}

// flushNow wakes the writer if records are queued.
func (p *peer) flushNow() {
	p.mu.Lock()
	n := p.queued
	p.mu.Unlock()
	if n > 0 {
		p.kick()
	}
}

func (p *peer) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// takeNews returns the refusals and the share to send (ok: the share
// changed), for the writer.
func (p *peer) takeNews(refused []wire.Tuple) ([]wire.Tuple, wire.Share, bool) {
	p.mu.Lock()
	refused = append(refused[:0], p.refused...)
	p.refused = p.refused[:0]
	sh, dirty := p.share, p.shareDirty
	p.shareDirty = false
	p.mu.Unlock()
	return refused, sh, dirty
}

// writeNews writes a share frame and lease-refused frames.
func (p *peer) writeNews(refused []wire.Tuple, sh wire.Share, shareChanged bool, buf []byte) ([]byte, error) {
	if shareChanged {
		if err := p.write(wire.TypeShare, wire.AppendShare(buf[:0], sh), false); err != nil {
			return buf, err
		}
	}
	for len(refused) > 0 {
		n := min(len(refused), wire.MaxBatch)
		buf = wire.BeginBatch(buf)
		for _, tu := range refused[:n] {
			buf = wire.AppendTuple(buf, tu)
		}
		if err := p.write(wire.TypeLeaseRefused, wire.EndBatch(buf, n), false); err != nil {
			return buf, err
		}
		refused = refused[n:]
	}
	return buf, nil
}

// seal closes the batch being filled. Called with mu held.
func (p *peer) seal() {
	p.full = append(p.full, wire.EndBatch(p.cur, p.curN))
	p.cur, p.curN = nil, 0
}

// buffer returns an emptied buffer. Called with mu held.
func (p *peer) buffer() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	// Room for a whole batch, so that a buffer never grows on the hot path.
	return make([]byte, 0, min(2+wire.MaxBatch*(wire.RecordFixedSize+p.payloadCap), wire.MaxFrame))
}

// takeAll hands every queued batch to the writer.
func (p *peer) takeAll() (batches [][]byte, records int) {
	p.mu.Lock()
	if p.cur != nil {
		p.seal()
	}
	batches, records = p.full, p.queued
	p.full, p.spare, p.queued = p.spare[:0], nil, 0
	if records > 0 && p.flush != nil {
		p.flush.Stop() // the next record arms it again
	}
	p.mu.Unlock()
	return batches, records
}

// recycle returns written batches for reuse.
func (p *peer) recycle(batches [][]byte) {
	p.mu.Lock()
	for _, b := range batches {
		if len(p.free) < keptBuffers {
			p.free = append(p.free, b[:0])
		}
	}
	clear(batches)
	p.spare = batches[:0]
	p.mu.Unlock()
}

// writeLoop sends queued records, pongs and a final error frame. It owns
// the write side of the connection.
func (p *peer) writeLoop() {
	defer close(p.wrDone)
	st := &p.srv.st
	wt := p.srv.cfg.WriteTimeout
	var refused []wire.Tuple
	var newsBuf []byte
	var flushed <-chan time.Time // nil (never ready) without a flush delay
	if p.flush != nil {
		flushed = p.flush.C
	}
	for {
		select {
		case <-p.wake:
		case <-flushed:
		case <-p.pong:
			p.conn.NetConn().SetWriteDeadline(time.Now().Add(wt))
			if err := p.write(wire.TypePong, nil, true); err != nil {
				return
			}
			continue
		case e := <-p.fail:
			p.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
			p.write(wire.TypeError, wire.AppendError(nil, e.Code, e.Msg), true)
			p.conn.Close()
			return
		case <-p.done:
			return
		}
		var sh wire.Share
		var shareChanged bool
		if refused, sh, shareChanged = p.takeNews(refused); shareChanged || len(refused) > 0 {
			p.conn.NetConn().SetWriteDeadline(time.Now().Add(wt))
			var err error
			if newsBuf, err = p.writeNews(refused, sh, shareChanged, newsBuf); err != nil {
				return
			}
		}
		for {
			if len(p.fail) > 0 || p.isDone() {
				break // handled by the select above
			}
			batches, n := p.takeAll()
			if len(batches) == 0 {
				break
			}
			p.conn.NetConn().SetWriteDeadline(time.Now().Add(wt))
			for _, b := range batches {
				if err := p.write(wire.TypeRecords, b, false); err != nil {
					return
				}
			}
			st.FramesSent.Add(uint64(len(batches)))
			st.RecordsSent.Add(uint64(n))
			p.recycle(batches)
		}
		// The queue is empty: flush what the buffered writer holds.
		if err := p.write(0, nil, true); err != nil {
			return
		}
	}
}

// write writes one frame (type 0: none) and optionally flushes. A write
// error closes the connection so that the reader ends too.
func (p *peer) write(t wire.Type, body []byte, flush bool) error {
	var err error
	if t != 0 {
		err = p.conn.WriteFrame(t, body)
	}
	if err == nil && flush {
		err = p.conn.Flush()
	}
	if err != nil {
		if isTimeout(err) {
			err = errStalled
		}
		p.wrErr = fmt.Errorf("gateway: write to copier: %w", err)
		p.conn.Close()
	}
	return err
}

// refuse asks the writer to send an error frame and close.
func (p *peer) refuse(code uint16, msg string) {
	select {
	case p.fail <- &wire.PeerError{Code: code, Msg: msg}:
	default:
	}
}

// stop marks the peer gone so Deliver drops its records, and releases the
// queue.
func (p *peer) stop() {
	p.stopped.Do(func() {
		p.mu.Lock()
		p.gone = true
		p.srv.st.DroppedGone.Add(uint64(p.queued))
		p.cur, p.full, p.spare, p.free, p.queued = nil, nil, nil, nil, 0
		p.refused = nil
		if p.flush != nil {
			p.flush.Stop()
		}
		p.mu.Unlock()
		close(p.done)
	})
}

func (p *peer) isDone() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
