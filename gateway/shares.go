package gateway

import (
	"errors"
	"fmt"

	"github.com/replaygw/replaygw/wire"
)

// shareSlots gives every connected copier instance a disjoint share of the
// client pool's (address, port) space: instance k gets share Index k of
// Count, where Count is one more than the highest index in use. One copier
// has the whole pool; a second one halves it; when the last of the highest
// index leaves, Count shrinks again. A copier's connections (a reconnect,
// several gateways) keep one index while any of them is connected. The
// copier's allocator picks tuples only inside its share, so copiers never
// compete for a tuple; the lease table refuses the rare collision (a share
// that changed under live sessions) as the safety net. Guarded by
// Server.mu.
type shareSlots struct {
	byInstance map[[16]byte]*shareSlot
	used       []bool // used[i]: index i is held
	max        int
}

// errNoShare refuses a copier when every pool share is taken.
var errNoShare = errors.New("no client pool share left")

type shareSlot struct {
	index int
	refs  int // connections of the instance holding the slot
}

func newShareSlots(max int) shareSlots {
	return shareSlots{byInstance: map[[16]byte]*shareSlot{}, max: max}
}

// count is the number of shares the pool is split into now.
func (s *shareSlots) count() int { return max(s.top(), 1) }

// top is one more than the highest index held (0: none).
func (s *shareSlots) top() int {
	n := len(s.used)
	for n > 0 && !s.used[n-1] {
		n--
	}
	return n
}

// share returns inst's current share (whole pool when it holds none).
func (s *shareSlots) share(inst [16]byte) wire.Share {
	sl := s.byInstance[inst]
	if sl == nil {
		return wire.Share{Count: 1}
	}
	return wire.Share{Index: uint16(sl.index), Count: uint16(s.count())}
}

// join gives inst a slot (its own again if it has one) and reports whether
// the share count changed.
func (s *shareSlots) join(inst [16]byte) (changed bool, err error) {
	if sl := s.byInstance[inst]; sl != nil {
		sl.refs++
		return false, nil
	}
	before := s.count()
	i := 0
	for i < len(s.used) && s.used[i] {
		i++
	}
	if i >= s.max {
		return false, fmt.Errorf("%w: all %d are taken by other copiers", errNoShare, s.max)
	}
	if i == len(s.used) {
		s.used = append(s.used, false)
	}
	s.used[i] = true
	s.byInstance[inst] = &shareSlot{index: i, refs: 1}
	return s.count() != before, nil
}

// leave drops one connection of inst and reports whether the share count
// changed.
func (s *shareSlots) leave(inst [16]byte) (changed bool) {
	sl := s.byInstance[inst]
	if sl == nil {
		return false
	}
	if sl.refs--; sl.refs > 0 {
		return false
	}
	before := s.count()
	delete(s.byInstance, inst)
	s.used[sl.index] = false
	s.used = s.used[:s.top()]
	return s.count() != before
}
