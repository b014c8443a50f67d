package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/replaygw/replaygw/capture"
)

// pass walks one pass over the file: it applies the window, the filter and
// the gap limit, and gives every eligible packet its virtual time.
type pass struct {
	from, to time.Duration
	maxGap   time.Duration
	filter   func([]byte) bool

	origin  time.Time // first IP packet of the file: the window's zero
	hasOrig bool
	started bool          // a packet was delivered in this pass
	prevTS  time.Time     // latest capture time delivered
	rel     time.Duration // virtual time of the last delivered packet

	packets, delivered, skipped, malformed int
	bytes                                  int64
	firstMalformed                         error
	firstTS, lastTS                        time.Time
}

func newPass(o *Options) pass {
	return pass{from: o.From, to: o.To, maxGap: o.MaxGap, filter: o.Filter}
}

// visitFunc receives an eligible packet, its capture time and its virtual
// time in the pass. A non-nil error stops the pass and is returned.
type visitFunc func(pkt []byte, ts time.Time, rel time.Duration) error

// ctxEvery is how many packets go by between context checks when the
// player has no reason to look at the clock.
const ctxEvery = 256

// run opens path and plays it through visit. It returns nil at the end of
// the file or the window, the wrapped file error that stopped it, or
// visit's or the context's error.
func (p *pass) run(ctx context.Context, path string, visit visitFunc) error {
	f, err := capture.OpenFile(path)
	if err != nil {
		return fileErr(err)
	}
	defer f.Close()
	for n := 0; ; n++ {
		if n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		pkt, ts, err := f.Next()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			if errors.Is(err, capture.ErrMalformed) {
				// One bad IP header; the file goes on after it.
				p.malformed++
				if p.firstMalformed == nil {
					p.firstMalformed = err
				}
				continue
			}
			return fileErr(err)
		}
		p.packets++
		if !p.hasOrig {
			p.origin, p.hasOrig = ts, true
		}
		off := ts.Sub(p.origin)
		if p.to > 0 && off >= p.to {
			p.skipped++
			return nil
		}
		if off < p.from || (p.filter != nil && !p.filter(pkt)) {
			p.skipped++
			continue
		}
		p.advance(ts)
		if err := visit(pkt, ts, p.rel); err != nil {
			return err
		}
		p.delivered++
		p.bytes += int64(len(pkt))
	}
}

// advance moves the virtual clock to the capture time ts. Time never runs
// backwards (a packet earlier than the previous one gets the same virtual
// time) and gaps are cut to maxGap.
func (p *pass) advance(ts time.Time) {
	if !p.started {
		p.started = true
		p.prevTS, p.firstTS = ts, ts
		p.rel = 0
		p.lastTS = ts
		return
	}
	p.lastTS = ts
	d := ts.Sub(p.prevTS)
	if d <= 0 {
		return
	}
	p.prevTS = ts
	if p.maxGap > 0 && d > p.maxGap {
		d = p.maxGap
	}
	p.rel += d
}

// fileErr wraps an error of the capture package for the replay's caller.
func fileErr(err error) error {
	return fmt.Errorf("replay: %w", err)
}
