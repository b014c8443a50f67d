package replay

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// BarMode chooses how progress is drawn on Options.Progress.
type BarMode int

const (
	// BarAuto redraws a bar in place when Progress is a terminal and prints
	// a plain line every 5 s otherwise.
	BarAuto BarMode = iota
	// BarAlways redraws a bar in place (with \r) whatever the writer is.
	BarAlways
	// BarLines prints a plain line every 5 s whatever the writer is.
	BarLines
)

// Options control a replay. The zero value plays the whole file once as fast
// as possible.
type Options struct {
	// Speed scales the capture's timing: 1 = real time, 2 = twice as fast.
	// 0 or +Inf plays as fast as possible ("--speed max").
	Speed float64
	// Loops plays the file this many times (0 means 1). Each loop's
	// timestamps continue after the previous loop's last packet.
	Loops int
	// From and To select a window of the file, relative to its first
	// packet: packets with From <= ts-first < To are played (To 0 = to the
	// end). Reading stops at the first packet past To.
	From, To time.Duration
	// MaxGap shortens idle gaps between delivered packets longer than this
	// to MaxGap (0 keeps every gap).
	MaxGap time.Duration
	// Filter, when set, is asked about every packet in the window; only
	// packets it accepts are delivered. It must not keep pkt and should be a
	// pure function: with Progress set it also sees every packet of the
	// measuring pass.
	Filter func(pkt []byte) bool
	// Progress, when non-nil, receives a progress display with an ETA (see
	// Bar). The file is read once more beforehand to learn its length.
	Progress io.Writer
	// Bar chooses the progress display; BarAuto looks at Progress.
	Bar BarMode
	// Live supplies extra text for the progress line, e.g. the engine's
	// "replayed 1234 (99.9%)". It is called at most 10 times a second, from
	// Play's goroutine.
	Live func() string
	// OnLoop, when set, is called from Play's goroutine before the first
	// packet of every loop with the loop's number (0 for the first pass), so
	// that the caller can make each loop's sessions distinct.
	OnLoop func(loop int)
	// Now and Sleep replace the clock (tests). Sleep is called with at most
	// 100 ms at a time and Play checks the context between calls.
	Now   func() time.Time
	Sleep func(time.Duration)
}

// Summary is what a replay did.
type Summary struct {
	Packets   int   // IP packets read from the file, over all loops
	Delivered int   // packets handed to the handler
	Skipped   int   // packets outside the window or rejected by the filter
	Bytes     int64 // bytes of the delivered packets
	// Malformed counts records skipped because their IP header does not
	// parse; MalformedErr is the first of them (names packet and offset).
	Malformed    int
	MalformedErr error
	// FirstTS and LastTS are the capture times of the first and the last
	// delivered packet.
	FirstTS, LastTS time.Time
	// Span is the virtual time played: the last delivered packet's time
	// since the first, over all loops, after MaxGap.
	Span time.Duration
	// Elapsed is the wall-clock time the replay took.
	Elapsed time.Duration
	// Loops is the number of complete passes over the file.
	Loops int
	// Err is the file error that stopped the replay, if any.
	Err error
}

// loopGap separates the last packet of a loop from the first of the next.
const loopGap = time.Millisecond

var errOptions = errors.New("invalid replay options")

// speed returns the speed factor, 0 meaning as fast as possible.
func (o *Options) speed() (float64, error) {
	s := o.Speed
	switch {
	case math.IsNaN(s) || s < 0:
		return 0, fmt.Errorf("replay: speed %v: %w", s, errOptions)
	case math.IsInf(s, 1):
		return 0, nil
	}
	return s, nil
}

func (o *Options) check() error {
	if o.Loops < 0 {
		return fmt.Errorf("replay: loops %d: %w", o.Loops, errOptions)
	}
	if o.From < 0 || o.To < 0 || o.MaxGap < 0 {
		return fmt.Errorf("replay: negative window or gap (from %v, to %v, max gap %v): %w", o.From, o.To, o.MaxGap, errOptions)
	}
	if o.To > 0 && o.To <= o.From {
		return fmt.Errorf("replay: window end %v not after its start %v: %w", o.To, o.From, errOptions)
	}
	if o.Bar < BarAuto || o.Bar > BarLines {
		return fmt.Errorf("replay: bar mode %d: %w", o.Bar, errOptions)
	}
	return nil
}
