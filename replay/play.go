package replay

import (
	"context"
	"errors"
	"math"
	"time"
)

// slack is how far ahead of its schedule a packet may be delivered without
// sleeping first.
const slack = 200 * time.Microsecond

// maxNap bounds one sleep so that progress keeps being drawn and an injected
// Sleep still notices a cancelled context.
const maxNap = 100 * time.Millisecond

// player holds the state of one Play call.
type player struct {
	ctx   context.Context
	h     func(pkt []byte, ts time.Time)
	speed float64 // 0 = as fast as possible
	now   func() time.Time
	sleep func(time.Duration) error
	timer *time.Timer
	start time.Time
	base  time.Duration // virtual time of the current loop's first packet
	pos   time.Duration // virtual time of the last delivered packet
	done  int           // packets delivered over all loops
	prog  *progress
}

// Play reads the capture file at path and hands its packets to h, paced by
// opts (see the package comment for the timing). The packet passed to h is
// valid only during the call: h copies what it keeps.
//
// Play returns when the file has been played opts.Loops times, when ctx is
// done (with ctx's error), or at a damaged record (with an error naming its
// packet number and byte offset that wraps the *capture.FileError). The
// Summary is never nil and describes what was played up to then; when the
// file stopped the replay (damaged, or could not be opened), Summary.Err is
// that error too; a cancelled context leaves Summary.Err nil.
func Play(ctx context.Context, path string, opts Options, h func(pkt []byte, ts time.Time)) (*Summary, error) {
	sum := &Summary{}
	speed, err := opts.speed()
	if err != nil {
		return sum, err
	}
	if err := opts.check(); err != nil {
		return sum, err
	}
	loops := opts.Loops
	if loops == 0 {
		loops = 1
	}
	p := &player{ctx: ctx, h: h, speed: speed, now: opts.Now}
	if p.now == nil {
		p.now = time.Now
	}
	if opts.Sleep != nil {
		p.sleep = func(d time.Duration) error { opts.Sleep(d); return ctx.Err() }
	} else {
		p.sleep = p.timerSleep
	}
	if opts.Progress != nil {
		p.prog = newProgress(&opts, speed)
		p.prog.measure(ctx, path, &opts, loops)
	}

	p.start = p.now()
	if p.prog != nil {
		p.prog.begin(p.start)
	}
	var visit visitFunc = p.deliverPaced
	if speed == 0 {
		visit = p.deliverMax
	}
	for loop := 0; loop < loops; loop++ {
		ps := newPass(&opts)
		if opts.OnLoop != nil {
			opts.OnLoop(loop)
		}
		err := ps.run(ctx, path, visit)
		sum.add(&ps)
		if err != nil {
			if cerr := ctx.Err(); cerr == nil || !errors.Is(err, cerr) {
				sum.Err = err // the file stopped the replay, not the caller
			}
			p.finish(sum)
			return sum, err
		}
		sum.Loops++
		if ps.started {
			p.base += ps.rel + loopGap
		}
	}
	p.finish(sum)
	return sum, nil
}

// deliverPaced waits for the packet's scheduled time and hands it over.
func (p *player) deliverPaced(pkt []byte, ts time.Time, rel time.Duration) error {
	v := p.base + rel
	due := p.start.Add(p.scale(v))
	for {
		now := p.now()
		if p.prog != nil {
			p.prog.tick(now, p.pos, p.done)
		}
		d := due.Sub(now)
		if d <= slack {
			break
		}
		if d > maxNap {
			d = maxNap
		}
		if err := p.sleep(d); err != nil {
			return err
		}
	}
	p.pos = v
	p.done++
	p.h(pkt, due)
	return nil
}

// deliverMax hands the packet over at once, stamped with the current time.
func (p *player) deliverMax(pkt []byte, ts time.Time, rel time.Duration) error {
	now := p.now()
	if p.prog != nil {
		p.prog.tick(now, p.pos, p.done)
	}
	p.pos = p.base + rel
	p.done++
	p.h(pkt, now)
	return nil
}

// scale converts virtual time into wall-clock time at the replay's speed.
func (p *player) scale(v time.Duration) time.Duration {
	if p.speed == 1 {
		return v
	}
	f := float64(v) / p.speed
	if f >= math.MaxInt64 {
		return math.MaxInt64 // absurdly slow: wait "forever" (until cancelled)
	}
	return time.Duration(f)
}

// timerSleep sleeps d on one reused timer, or until the context is done.
func (p *player) timerSleep(d time.Duration) error {
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-p.ctx.Done():
		p.timer.Stop()
		return p.ctx.Err()
	}
}

// finish fills in the totals and closes the progress display.
func (p *player) finish(sum *Summary) {
	end := p.now()
	sum.Elapsed = end.Sub(p.start)
	sum.Span = p.pos
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.prog != nil {
		p.prog.end(end, p.pos, p.done, sum.Err == nil && p.ctx.Err() == nil)
	}
}

// add counts one pass into the summary.
func (s *Summary) add(ps *pass) {
	s.Packets += ps.packets
	s.Delivered += ps.delivered
	s.Skipped += ps.skipped
	s.Bytes += ps.bytes
	s.Malformed += ps.malformed
	if s.MalformedErr == nil && ps.firstMalformed != nil {
		s.MalformedErr = fileErr(ps.firstMalformed)
	}
	if ps.started {
		if s.FirstTS.IsZero() {
			s.FirstTS = ps.firstTS
		}
		s.LastTS = ps.lastTS
	}
}
