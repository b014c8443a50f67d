package copier

import (
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// A group is one captured connection (client -> online service); each of
// its copies is a session: one simulated client TCP against the target.

type group struct {
	id      uint64 // unique in the engine: ExchangeSource.Conn
	orig    wire.Tuple
	route   int
	syn     capturedSYN
	rtt     int64 // the client's round trip, SYN to its ACK
	rttDone bool
	copies  []*session
	online  onlineEstimate
	alive   int  // copies not ended
	dead    bool // tombstoned (tomb.go): no longer in the worker's table
}

// capturedSYN is the client's SYN as captured (seen false: joined
// mid-stream); every copy replays it.
type capturedSYN struct {
	seen   bool
	seq    seqnum.Value
	at     int64 // capture time
	opts   [40]byte
	optLen int
	win    uint16
	tsOn   bool // it carried timestamps
	tsVal  uint32
	ws     bool // it carried a window scale
}

// onlineEstimate is the online server's response time, estimated from the
// captured client stream (see observeOnline).
type onlineEstimate struct {
	reqOut             bool         // a request is waiting for its response
	reqAt              int64        // its capture time
	reqAck             seqnum.Value // the client's ack when it was sent
	responses          int
	respTotal, respMax int64
}

// observeOnline estimates the online server's response time from the
// captured client stream alone (the copier never sees the server's
// packets): from a request's capture to the client's first acknowledgement
// of new server bytes, less the client's round trip measured on the
// handshake (SYN to ACK; 0 for a connection joined mid-stream, which makes
// the figure an upper bound). An acknowledgement riding on the client's
// next request is not used: it would add the client's think time.
func (g *group) observeOnline(p *capPkt) (d int64, ok bool) {
	if p.flags&header.TCPFlagAck == 0 {
		return 0, false
	}
	if g.online.reqOut && g.online.reqAck.LessThan(p.ack) {
		g.online.reqOut = false
		if p.payLen == 0 {
			d = max(p.ts-g.online.reqAt-g.rtt, 0)
			ok = true
			g.online.responses++
			g.online.respTotal += d
			g.online.respMax = max(g.online.respMax, d)
		}
	}
	if p.payLen > 0 && !g.online.reqOut {
		g.online.reqOut, g.online.reqAt, g.online.reqAck = true, p.ts, p.ack
	}
	return d, ok
}
