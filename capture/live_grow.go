package capture

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"time"

	vns "github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
)

// Growing the ring. The ring is mapped into the process, so all of it is
// resident memory from the start, and most hosts never need more than a
// few MiB of it. A single-socket capture therefore opens a small ring
// (minSocketRingMB) and replaces it with one of the configured size at the
// first sign of pressure: a quarter of its blocks ready at once when the
// reader starts one (it fell behind by that many block timeouts), or a
// kernel drop or queue freeze. Nothing captured is lost or handed out twice on
// the way:
//
//  0. the large ring is set up with the same filter, not yet bound, on a
//     goroutine of its own (prepareGrowth: the kernel waits for a grace
//     period and allocates the ring, milliseconds the reader spends
//     reading the small ring);
//  1. the large ring is bound: from now on it sees every packet;
//  2. the small ring gets a filter that accepts nothing, so it takes no
//     more packets; the few that reached both rings between 1 and 2 are
//     the overlap;
//  3. the small ring is read until the kernel has retired its last block
//     (one block timeout), hashing the frames read since 1;
//  4. the large ring is read; those of its first frames that equal one
//     hashed in 3 (the overlap) are skipped.
//
// A fanout group (several sockets) keeps the ring it opened with.

// drainMargin is how long past two block timeouts a growth waits for the
// old ring's last block: more than two jiffies at HZ=100 (10 ms each).
const drainMargin = 25 * time.Millisecond

// growBacklogMin is the least backlog, in blocks, that counts as pressure.
const growBacklogMin = 4

// overlapMax bounds the frames remembered for step 4: far more than can
// arrive in the microseconds between steps 1 and 2.
const overlapMax = 1024

var rejectAll = func() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		panic(err)
	}
	return raw
}()

// ringReader reads one ring and keeps the reader's view of its pressure
// and the overlap to skip after a growth.
type ringReader struct {
	tp     *ring
	blocks int
	hot    bool // a block started with the backlog of pressure behind it
	// roomy: at the last block start at most half the ring was waiting,
	// so it can take what arrives while a larger ring opens (grow).
	roomy   bool
	full    bool // at the last block start every block was waiting: the kernel drops
	skip    *overlap
	growing *growth         // a larger ring being prepared (prepareGrowth)
	ctx     context.Context // the capture's run; wait returns once it ends
}

// newReader makes a reader of ring tp. Called with l.mu held.
func (l *Live) newReader(tp *ring, blocks int) *ringReader {
	r := &ringReader{tp: tp, blocks: blocks, ctx: l.runCtx}
	if r.ctx == nil {
		r.ctx = context.Background()
	}
	return r
}

// read returns the next frame, its capture time and length on the wire;
// ok is false when none is ready.
func (r *ringReader) read() (frame []byte, ts time.Time, wire int, ok bool) {
	if r.tp.startsBlock() && r.tp.ready() {
		// A block starts: how many more wait behind it?
		need := max(growBacklogMin, r.blocks/8)
		b := r.tp.backlog(r.blocks)
		r.hot = r.hot || b >= need
		r.roomy = b <= r.blocks/2
		r.full = b >= r.blocks-1
	}
	return r.tp.next()
}

// wait parks until a block is ready, idleWait passed or the capture
// stops (wakeReaders).
func (r *ringReader) wait() error { return r.waitFor(idleWait) }

func (r *ringReader) waitFor(d time.Duration) error { return r.tp.wait(r.ctx, d) }

// pressed reports whether the reader was found behind.
func (r *ringReader) pressed() bool { return r.hot }

// duplicate reports whether frame is one of the overlap to skip.
func (r *ringReader) duplicate(frame []byte) bool {
	if r.skip == nil {
		return false
	}
	dup := r.skip.match(frame)
	if !r.skip.on {
		r.skip = nil
	}
	return dup
}

// overlap is the tail of the frames the old ring handed out after the new
// one opened, as hashes: the new ring's first frames that are among them
// were handed out already. The new ring may also start with frames no
// filter checked yet (it is bound before its filter is attached), so the
// overlap is looked for among its first frames, not only at the first.
type overlap struct {
	seed maphash.Seed
	tail []uint64 // in order, the last overlapMax
	left int      // frames of the new ring still looked at
	on   bool
}

func newOverlap() *overlap { return &overlap{seed: maphash.MakeSeed(), on: true} }

func (o *overlap) add(frame []byte) {
	if len(o.tail) == overlapMax {
		copy(o.tail, o.tail[1:])
		o.tail = o.tail[:overlapMax-1]
	}
	o.tail = append(o.tail, maphash.Bytes(o.seed, frame))
	o.left = len(o.tail) + overlapSlack
}

// overlapSlack is how many frames of the new ring beyond the tail's
// length are looked at.
const overlapSlack = 64

// match is called with the new ring's frames in order: a frame whose hash
// is in the tail is a duplicate (and leaves the tail). It turns itself off
// when the tail is empty or the frames to look at are used up.
func (o *overlap) match(frame []byte) bool {
	dup := false
	if len(o.tail) > 0 {
		h := maphash.Bytes(o.seed, frame)
		for i, t := range o.tail {
			if t == h {
				o.tail = append(o.tail[:i], o.tail[i+1:]...)
				dup = true
				break
			}
		}
	}
	o.left--
	o.on = len(o.tail) > 0 && o.left > 0
	return dup
}

// wakeReaders wakes the readers parked in the netpoller, once the run's
// context has ended: a waiter checks the context after setting its own
// deadline, so either it sees the end or this deadline wakes it.
func (l *Live) wakeReaders() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tp := range l.socks {
		tp.wake()
	}
}

// inNetns runs fn on a fresh thread in the network namespace the capture
// was opened in (the reader's thread may be in another), and waits. The
// thread is never unlocked, so the runtime discards it afterwards.
func (l *Live) inNetns(fn func() error) error {
	if !l.ns.IsOpen() {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		// Already there (the usual case: the process runs in the namespace
		// it captures in) needs no setns, which takes CAP_SYS_ADMIN.
		if cur, err := vns.Get(); err == nil {
			same := cur.Equal(l.ns)
			cur.Close()
			if same {
				done <- fn()
				return
			}
		}
		if err := vns.Set(l.ns); err != nil {
			done <- fmt.Errorf("enter the capture's network namespace: %w", err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// Growable reports whether the capture may still open a larger ring,
// which needs CAP_NET_RAW (see OnSettled).
func (l *Live) Growable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.numBlocks {
		if l.mayGrow(i) {
			return true
		}
	}
	return false
}

// OnSettled sets a function called once, on a reader's goroutine, when the
// capture will open no more sockets: after its ring grew, or when a growth
// failed. A copier keeps CAP_NET_RAW until then (a growth opens a new
// packet socket) and drops it in f. Set it before Run.
func (l *Live) OnSettled(f func()) { l.settled = f }

func (l *Live) settle() {
	if l.settled != nil && !l.Growable() {
		l.settleOnce.Do(l.settled)
	}
}

// mayGrow reports whether socket i may still be replaced by a larger ring.
func (l *Live) mayGrow(i int) bool {
	return l.cfg.Fanout == 1 && l.numBlocks[i] < l.maxBlocks && !l.growFailed
}

// growth is a larger ring being prepared for a reader, off its path.
type growth struct {
	ready chan struct{} // closed once ring or err is set
	ring  *ring         // set up but not bound: it captures nothing yet
	err   error
}

// prepareGrowth starts preparing the larger ring for r: setting it up
// takes milliseconds (prepareRing), which r goes on reading the old ring
// through; grow binds it once it is there.
func (l *Live) prepareGrowth(r *ringReader) {
	g := &growth{ready: make(chan struct{})}
	r.growing = g
	go func() {
		defer close(g.ready)
		g.err = l.inNetns(func() (err error) {
			g.ring, err = prepareRing(l.maxBlocks, l.cfg.BlockTimeout, l.prog)
			return err
		})
	}()
}

// grown reports whether r's larger ring is ready to be switched to.
func (r *ringReader) grown() bool {
	if r.growing == nil {
		return false
	}
	select {
	case <-r.growing.ready:
		return true
	default:
		return false
	}
}

// abandonGrowth closes the ring being prepared for r, when the capture
// ends before it was switched to.
func (r *ringReader) abandonGrowth() {
	if g := r.growing; g != nil {
		r.growing = nil
		go func() {
			<-g.ready
			if g.ring != nil {
				g.ring.close()
			}
		}()
	}
}

// grow replaces socket i, read by r, with a ring of maxBlocks blocks (the
// steps above) and returns the reader of the new one. When the new ring
// cannot be opened the old one is kept (and no growth tried again).
func (l *Live) grow(i int, r *ringReader, h Handler, flush func()) (*ringReader, error) {
	why := "backlog"
	if !r.hot {
		why = "kernel_drops"
	}
	keep := func(what string, err error) (*ringReader, error) {
		l.growFailed = true
		l.settle()
		l.log.Warn("capture ring stays small: "+what, "err", err, "ring_mb", l.numBlocks[i]*blockSize>>20)
		return r, nil
	}
	g := r.growing
	r.growing = nil
	<-g.ready
	if g.err != nil {
		return keep("could not open a larger one", g.err)
	}
	tp := g.ring
	if err := tp.bind(l.ifindex); err != nil {
		tp.close()
		return keep("could not open a larger one", err)
	}
	// From here on the new ring holds every packet too: what the old one
	// drops now is not lost. Count its drops up to this point, not after.
	l.setRetiring(i, true)
	if err := r.tp.setFilter(rejectAll); err != nil {
		l.setRetiring(i, false)
		tp.close()
		return keep("could not close the small one", err)
	}
	if l.kernelSkipsOutgoing {
		_ = tp.ignoreOutgoing()
	}
	// Read the old ring to its end: the kernel retires its last block
	// after one block timeout, on its timer wheel in jiffies (at HZ=250 a
	// 2 ms timeout is one 4 ms jiffy and fires 4–8 ms later). A margin of
	// only 2 ms closed the old ring with that block still unread: under
	// load the last frames before the switch were lost, leaving holes in
	// long-lived sessions (TestCopyMySQL failed whenever the ring grew).
	ov := newOverlap()
	deadline := time.Now().Add(2*l.cfg.BlockTimeout + drainMargin)
	for {
		data, ts, wire, ok := r.read()
		if ok {
			if !r.duplicate(data) {
				ov.add(data)
				l.handle(data, ts, wire, h)
			}
			continue
		}
		left := time.Until(deadline)
		if left <= 0 || r.ctx.Err() != nil {
			break
		}
		if err := r.waitFor(left); err != nil {
			tp.close()
			return nil, err
		}
	}
	if flush != nil {
		flush()
	}
	l.updateKernelStats() // the old socket's last counts
	l.mu.Lock()
	old := l.socks[i]
	l.socks[i], l.kstats[i], l.numBlocks[i] = tp, kernelStats{}, l.maxBlocks
	nr := l.newReader(tp, l.maxBlocks)
	l.mu.Unlock()
	if r.ctx.Err() != nil {
		tp.wake() // the run ended during the drain: wakeReaders may have missed it
	}
	go old.close() // closing waits for a grace period; nobody reads it now
	nr.skip = ov
	l.stats.RingGrowths.Add(1)
	l.settle()
	l.log.Info("capture ring grown", "reason", why, "ring_mb", l.maxBlocks*blockSize>>20)
	return nr, nil
}
