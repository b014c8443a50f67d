package copier

import (
	"github.com/replaygw/replaygw/wire"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
)

// A group is one captured connection (client -> online service); each of
// its copies is a session: one simulated client TCP against the target.

type group struct {
	orig      wire.Tuple
	route     int
	synSeen   bool
	synSeq    seqnum.Value
	synTs     int64 // capture time of the SYN
	synOpts   [40]byte
	synOptLen int
	synWin    uint16
	synTS     bool // the SYN carried timestamps
	synTSVal  uint32
	synWS     bool // the SYN carried a window scale
	rtt       int64
	rttDone   bool
	copies    []*session

	// The online server's response time, estimated from the captured
	// client stream (see observeOnline).
	reqOut                 bool         // a request is waiting for its response
	reqTs                  int64        // its capture time
	reqAck                 seqnum.Value // the client's ack when it was sent
	onResponses            int
	onRespTotal, onRespMax int64
	alive                  int
	dead                   bool
	deadUntil              int64
}

// observeOnline estimates the online server's response time from the
// captured client stream alone (the copier never sees the server's
// packets): from a request's capture to the client's first acknowledgement
// of new server bytes, less the client's round trip measured on the
// handshake (SYN to ACK; 0 for a connection joined mid-stream, which makes
// the figure an upper bound). An acknowledgement riding on the client's
// next request is not used: it would add the client's think time.
func (g *group) observeOnline(p *capPkt) {
	if p.flags&header.TCPFlagAck == 0 {
		return
	}
	if g.reqOut && g.reqAck.LessThan(p.ack) {
		g.reqOut = false
		if p.payLen == 0 {
			d := max(p.ts-g.reqTs-g.rtt, 0)
			g.onResponses++
			g.onRespTotal += d
			g.onRespMax = max(g.onRespMax, d)
		}
	}
	if p.payLen > 0 && !g.reqOut {
		g.reqOut, g.reqTs, g.reqAck = true, p.ts, p.ack
	}
}
