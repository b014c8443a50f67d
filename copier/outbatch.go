package copier

// Batched sending: a worker builds its outgoing packets one after another
// into an arena and hands them to the sender in one call (one sendmmsg for
// the raw sender) at the end of each round of queued work, instead of one
// syscall per packet. Senders without SendBatch get one Send per packet.

// BatchSender is a Sender that can also send several packets at once. It
// returns how many were sent and the first error.
type BatchSender interface {
	Sender
	SendBatch(pkts [][]byte) (int, error)
}

const (
	outArenaSize = 256 << 10
	outBatchMax  = 64
)

// outBatch is the worker's queue of built, unsent packets.
type outBatch struct {
	snd   BatchSender
	arena []byte
	used  int
	pkts  [][]byte
}

func newOutBatch(s BatchSender) *outBatch {
	return &outBatch{snd: s, arena: make([]byte, outArenaSize), pkts: make([][]byte, 0, outBatchMax)}
}

// buf returns room for a packet of n bytes, sending what is queued first
// when the arena or the batch is full; nil when n does not fit at all.
func (o *outBatch) buf(st *Stats, n int) []byte {
	if n > len(o.arena) {
		return nil
	}
	if o.used+n > len(o.arena) || len(o.pkts) == outBatchMax {
		o.flush(st)
	}
	return o.arena[o.used : o.used+n : o.used+n]
}

// add queues the packet just built in the slice buf returned.
func (o *outBatch) add(p []byte) {
	o.pkts = append(o.pkts, p)
	o.used += len(p)
}

// flush sends everything queued and counts the outcome.
func (o *outBatch) flush(st *Stats) {
	if len(o.pkts) == 0 {
		return
	}
	sent, _ := o.snd.SendBatch(o.pkts)
	st.PacketsSent.Add(uint64(sent))
	if failed := len(o.pkts) - sent; failed > 0 {
		st.SendErrors.Add(uint64(failed))
	}
	clear(o.pkts)
	o.pkts = o.pkts[:0]
	o.used = 0
}
