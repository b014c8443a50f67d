package copier

// The session table's bound: a worker holds at most its share of
// Config.MaxSessions live sessions. A new connection over the bound sheds
// the oldest half-open one (its SYN captured, nothing after: what a SYN
// flood or a crowd of stalled clients leaves), else the oldest connection,
// with the fate "shed" (RST to the target). Both queues are in creation
// order and forget ended connections lazily; they are compacted when the
// dead entries outnumber the live, so shedding and bookkeeping are O(1)
// amortised per connection.

// groupQueue is a FIFO of connections.
type groupQueue struct {
	q    []*group
	head int
}

func (q *groupQueue) push(g *group) { q.q = append(q.q, g) }

// pop returns the oldest connection that keep accepts, forgetting the
// ones before it; nil when none.
func (q *groupQueue) pop(keep func(*group) bool) *group {
	for q.head < len(q.q) {
		g := q.q[q.head]
		q.q[q.head] = nil
		q.head++
		if keep(g) {
			return g
		}
	}
	q.q, q.head = q.q[:0], 0
	return nil
}

// compact drops the entries keep refuses once they outnumber live.
func (q *groupQueue) compact(live int, keep func(*group) bool) {
	if len(q.q)-q.head <= 2*live+64 {
		return
	}
	n := 0
	for _, g := range q.q[q.head:] {
		if keep(g) {
			q.q[n] = g
			n++
		}
	}
	clear(q.q[n:])
	q.q, q.head = q.q[:n], 0
}

// sessionTable orders a worker's connections for shedding.
type sessionTable struct {
	all      groupQueue
	halfOpen groupQueue
}

func groupLive(g *group) bool { return g.alive > 0 && !g.dead }

func groupHalfOpen(g *group) bool { return groupLive(g) && g.syn.seen && !g.rttDone }

// add files a new connection.
func (t *sessionTable) add(g *group) {
	t.all.push(g)
	if g.syn.seen {
		t.halfOpen.push(g)
	}
}

// makeRoom sheds connections until n more sessions fit under the worker's
// bound. It reports false when nothing could be shed.
func (w *worker) makeRoom(n int, now int64) bool {
	t := &w.table
	for w.live+n > w.maxSessions {
		g := t.halfOpen.pop(groupHalfOpen)
		if g == nil {
			g = t.all.pop(groupLive)
		}
		if g == nil {
			return false
		}
		for _, s := range g.copies {
			if !s.ended {
				w.abort(s, FateShed, now)
			}
		}
	}
	t.all.compact(w.live, groupLive)
	t.halfOpen.compact(w.live, groupHalfOpen)
	return true
}
