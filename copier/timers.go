package copier

// A hashed timer wheel, one per worker, owned by the worker goroutine: no
// locks and no Go timer per session. Each session has a single wheel entry
// at the earliest of its deadlines (RTO, delayed ACK, pacing, gap, idle,
// persist, linger); when it fires the session checks every deadline and
// re-arms itself at the next one. An entry whose near deadline went away
// (the ACK went out with data, the target acked everything) is re-filed
// at the next one, so that the worker does not wake for nothing; far
// deadlines that move later (idle) are not: the entry fires early and the
// session re-arms.

const (
	wheelTick  = int64(1e6) // 1 ms in nanoseconds
	wheelSlots = 4096       // a little over 4 s per revolution
	// wheelLook is how many ticks ahead advance looks for the next armed
	// slot; with nothing nearer, the worker wakes after that long anyway.
	wheelLook = 256
	// noWake is a deadline that never comes.
	noWake = int64(1<<63 - 1)
)

// wheelEntry is embedded in every session.
type wheelEntry struct {
	wNext, wPrev *session
	wAt          int64 // scheduled deadline, 0 = not on the wheel
}

type wheel struct {
	slots [wheelSlots]*session // heads of doubly linked lists
	tick  int64                // next tick to process
	n     int
	// next is a lower bound of the earliest deadline on the wheel (noWake
	// when empty): the worker sleeps until then instead of ticking every
	// millisecond. Early is harmless: advance finds nothing due.
	next int64
	// stale: an entry at next's tick was removed, so next may be earlier
	// than it need be; refresh recomputes it (a wake saved).
	stale bool
}

func newWheel(now int64) *wheel { return &wheel{tick: now / wheelTick, next: noWake} }

func slotOf(at int64) int { return int((at / wheelTick) & (wheelSlots - 1)) }

// schedule arms s at at unless it is already armed no later than that.
func (w *wheel) schedule(s *session, at int64) {
	if at <= 0 {
		return
	}
	if s.wAt != 0 {
		if s.wAt <= at {
			return
		}
		w.remove(s)
	}
	if t := at / wheelTick; t < w.tick {
		at = w.tick * wheelTick // already due: fire on the next advance
	}
	s.wAt = at
	if at < w.next {
		w.next = at
	}
	i := slotOf(at)
	s.wPrev = nil
	s.wNext = w.slots[i]
	if s.wNext != nil {
		s.wNext.wPrev = s
	}
	w.slots[i] = s
	w.n++
}

func (w *wheel) remove(s *session) {
	if s.wAt == 0 {
		return
	}
	if s.wPrev != nil {
		s.wPrev.wNext = s.wNext
	} else {
		w.slots[slotOf(s.wAt)] = s.wNext
	}
	if s.wNext != nil {
		s.wNext.wPrev = s.wPrev
	}
	if s.wAt/wheelTick <= w.next/wheelTick {
		w.stale = true
	}
	s.wNext, s.wPrev, s.wAt = nil, nil, 0
	w.n--
}

// refresh recomputes next after removals made it stale.
func (w *wheel) refresh() {
	if w.stale {
		w.findNext()
	}
}

// advance fires every entry due at or before now, in tick order. fire may
// re-schedule; an entry scheduled for a tick already processed lands in
// the next one.
func (w *wheel) advance(now int64, fire func(*session, int64)) {
	end := now / wheelTick
	defer w.findNext()
	for w.tick <= end {
		if w.n == 0 {
			w.tick = end + 1
			return
		}
		t := w.tick
		i := int(t & (wheelSlots - 1))
		var due *session
		for s := w.slots[i]; s != nil; {
			next := s.wNext
			if s.wAt/wheelTick <= t {
				w.remove(s)
				s.wNext = due // reuse the link for a private list
				due = s
			}
			s = next
		}
		w.tick = t + 1
		for due != nil {
			s := due
			due = s.wNext
			s.wNext = nil
			fire(s, now)
		}
	}
}

// findNext sets next to the start of the first armed slot within
// wheelLook ticks (an entry there may belong to a later revolution: then
// the wake is early, not late), or to wheelLook ticks ahead.
func (w *wheel) findNext() {
	w.stale = false
	if w.n == 0 {
		w.next = noWake
		return
	}
	for k := range int64(wheelLook) {
		if w.slots[(w.tick+k)&(wheelSlots-1)] != nil {
			w.next = (w.tick + k) * wheelTick
			return
		}
	}
	w.next = (w.tick + wheelLook) * wheelTick
}
