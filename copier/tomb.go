package copier

import (
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// Tombstones. An ended connection's captured tuple is remembered for
// tombLinger so that its late packets (a retransmitted FIN, the last ACK)
// are absorbed instead of starting a new mid-stream session. At 2,500
// short connections a second that is 25,000 tuples, so a tombstone is a
// small pointer-free map entry, not the connection's group: the group (and
// what it points to) is garbage as soon as its last copy ends, and the map
// is not scanned by the garbage collector. This kept ~7 MB of live heap,
// twice that at the heap's peak, off a copier at 5,000 requests/s.

// tomb is what is left of an ended connection: until when it absorbs
// packets and its SYN, so that a retransmission of that SYN is absorbed
// too while a new SYN on the tuple starts a new connection.
type tomb struct {
	until   int64
	synSeq  seqnum.Value
	synSeen bool
}

// tombstone ends g's life as a connection: its tuple absorbs stragglers
// for tombLinger, and g leaves the table.
func (w *worker) tombstone(g *group, now int64) {
	g.dead = true
	clear(g.copies)
	g.copies = g.copies[:0]
	if w.groups[g.orig] == g {
		delete(w.groups, g.orig)
	}
	w.tombs[keyOf(g.orig)] = tomb{until: now + tombLinger, synSeq: g.syn.seq, synSeen: g.syn.seen}
	w.tombsPeak = max(w.tombsPeak, len(w.tombs))
}

// absorbed reports whether a captured packet without a live connection is
// a straggler of an ended one (and extends that one's linger); a new SYN
// on the tuple clears the tombstone and is not absorbed.
func (w *worker) absorbed(p *capPkt, isSyn bool, now int64) bool {
	if len(w.tombs) == 0 {
		return false
	}
	k := keyOf(p.orig)
	tb, ok := w.tombs[k]
	if !ok {
		return false
	}
	if isSyn && !(tb.synSeen && tb.synSeq == p.seq) {
		delete(w.tombs, k)
		return false
	}
	tb.until = now + tombLinger
	w.tombs[k] = tb
	return true
}

// tombsShrink is the peak size past which an emptied tombstone map is
// replaced: a Go map keeps its largest size's memory.
const tombsShrink = 4096

// sweepTombs forgets the tombstones whose linger is over.
func (w *worker) sweepTombs(now int64) {
	for k, tb := range w.tombs {
		if tb.until <= now {
			delete(w.tombs, k)
		}
	}
	if len(w.tombs) == 0 && w.tombsPeak > tombsShrink {
		w.tombs, w.tombsPeak = make(map[tupleKey]tomb), 0
	}
}
